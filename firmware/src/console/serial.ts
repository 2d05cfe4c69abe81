// The serial line under the console: @serialport/stream on the configured
// device. A USB serial adapter can be unplugged at any time: the port then
// closes with a disconnect error, and opening it fails with ENOENT until the
// adapter is back. The transport keeps trying, backing off up to maxRetryMs,
// and tells its owner when a line comes and goes.

import { autoDetect } from '@serialport/bindings-cpp';
import { SerialPortStream } from '@serialport/stream';
import type { Duplex } from 'node:stream';
import { silentLogger, type Logger } from '../util/log.js';
import { pollForEveryWaiter } from './poller-fix.js';
import { realConsoleTimers, type ConsoleTimers } from './shell.js';

export interface SerialTransportOptions {
  device: string;
  baud: number;
  /** A line is open: the owner reads and writes `stream` until onDown. */
  onUp(stream: Duplex): void;
  /** The line went away (unplugged, device error); a reopen is scheduled. */
  onDown(reason: string): void;
  logger?: Logger;
  timers?: ConsoleTimers;
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Opens the port; the default uses the platform's native binding. Tests may pass another. */
  openPort?: (device: string, baud: number, done: (err: Error | null, port?: Duplex) => void) => void;
}

export interface SerialCounters {
  opens: number;
  openFailures: number;
  disconnects: number;
}

export function openNativePort(device: string, baud: number, done: (err: Error | null, port?: Duplex) => void): void {
  // hupcl off: closing our end must not hang up the terminal on the other side.
  const port = new SerialPortStream({ binding: autoDetect(), path: device, baudRate: baud, autoOpen: false, hupcl: false });
  port.open((err) => {
    if (err) return done(err);
    pollForEveryWaiter(port);
    done(null, port);
  });
}

export class SerialTransport {
  readonly counters: SerialCounters = { opens: 0, openFailures: 0, disconnects: 0 };
  private readonly opts: Required<Omit<SerialTransportOptions, 'logger' | 'timers'>>;
  private readonly log: Logger;
  private readonly timers: ConsoleTimers;
  private port: Duplex | undefined;
  private retryTimer: unknown;
  private retryMs: number;
  private stopped = false;
  /** Set while the device is missing, so an outage is logged once, not on every retry. */
  private outageSince: number | undefined;

  constructor(options: SerialTransportOptions) {
    this.opts = { firstRetryMs: 500, maxRetryMs: 10_000, openPort: openNativePort, ...options };
    this.log = (options.logger ?? silentLogger).child({ component: 'console', device: options.device });
    this.timers = options.timers ?? realConsoleTimers;
    this.retryMs = this.opts.firstRetryMs;
  }

  get isOpen(): boolean {
    return this.port !== undefined;
  }

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.timers.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    const port = this.port;
    this.port = undefined;
    port?.removeAllListeners('close');
    port?.destroy();
  }

  private open(): void {
    this.retryTimer = undefined;
    if (this.stopped) return;
    this.opts.openPort(this.opts.device, this.opts.baud, (err, port) => {
      if (this.stopped) {
        port?.destroy();
        return;
      }
      if (err || !port) {
        this.counters.openFailures++;
        if (this.outageSince === undefined) {
          this.outageSince = this.timers.now();
          this.log.warn('serial console device unavailable; retrying until it is back', { err });
        }
        this.scheduleReopen();
        return;
      }
      this.counters.opens++;
      if (this.outageSince !== undefined) this.log.info('serial console device back', { afterMs: Math.round(this.timers.now() - this.outageSince) });
      else this.log.info('serial console open', { baud: this.opts.baud });
      this.outageSince = undefined;
      this.retryMs = this.opts.firstRetryMs;
      this.port = port;
      port.on('error', (error: Error) => this.log.warn('serial console error', { err: error }));
      port.once('close', (closeErr?: Error) => this.closed(port, closeErr));
      this.opts.onUp(port);
    });
  }

  private closed(port: Duplex, err?: Error): void {
    if (this.port !== port) return;
    this.port = undefined;
    this.counters.disconnects++;
    const reason = err?.message ?? 'port closed';
    this.outageSince = this.timers.now();
    this.log.warn('serial console line gone; reopening when the device is back', { reason });
    this.opts.onDown(reason);
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.stopped || this.retryTimer !== undefined) return;
    const wait = this.retryMs;
    this.retryMs = Math.min(this.opts.maxRetryMs, this.retryMs * 2);
    this.retryTimer = this.timers.setTimer(wait, () => this.open());
  }
}
