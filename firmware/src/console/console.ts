// The serial management console: a Shell (session, commands) on a line that
// comes and goes. `attach` runs it over any Duplex stream (a unit test, a
// socket); `startSerial` runs it on a serial device and follows the device
// through unplug and re-plug. Output is dropped, never queued without bound,
// when nobody is reading it: a serial line at 9600 baud cannot keep up with a
// busy `log`.

import type { Duplex } from 'node:stream';
import { silentLogger, type Logger } from '../util/log.js';
import { SerialTransport, type SerialTransportOptions } from './serial.js';
import { Shell, type ShellOptions } from './shell.js';

/** Bytes waiting to go out on the line beyond which further output is dropped. */
const MAX_OUTPUT_BACKLOG = 256 * 1024;

export type ConsoleOptions = Omit<ShellOptions, 'write'>;

export interface ConsoleCounters {
  /** Output bytes dropped: no line attached, or the line could not keep up. */
  droppedOutput: number;
  /** Bytes received from the line. */
  inputBytes: number;
}

export class Console {
  readonly shell: Shell;
  readonly counters: ConsoleCounters = { droppedOutput: 0, inputBytes: 0 };
  private readonly log: Logger;
  private stream: Duplex | undefined;
  private detachCurrent: (() => void) | undefined;
  private transport: SerialTransport | undefined;
  private attachedBefore = false;
  /** droppedOutput when the current run of dropped output began. */
  private droppingSince: number | undefined;

  constructor(options: ConsoleOptions) {
    this.log = options.logger ?? silentLogger;
    this.shell = new Shell({ ...options, write: (text) => this.write(text) });
  }

  /** Runs the console over `stream` until it closes or the returned function is called. */
  attach(stream: Duplex): () => void {
    this.detachCurrent?.();
    this.stream = stream;
    const onData = (data: Buffer | string): void => {
      this.counters.inputBytes += data.length;
      try {
        this.shell.input(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
      } catch (err) {
        // Nothing the line sends may stop the console: count it, log it, carry on.
        this.log.error('console input handling failed', { err });
      }
    };
    const onEnd = (): void => detach();
    const detach = (): void => {
      if (this.stream !== stream) return;
      stream.off('data', onData);
      stream.off('close', onEnd);
      stream.off('end', onEnd);
      this.stream = undefined;
      this.detachCurrent = undefined;
      this.shell.disconnected();
    };
    stream.on('data', onData);
    stream.on('close', onEnd);
    stream.on('end', onEnd);
    stream.on('error', (err: Error) => this.log.warn('console stream error', { err }));
    this.detachCurrent = detach;
    // A second line (after a re-plug) gets the banner and the prompt drawn again.
    if (this.attachedBefore) this.shell.connected();
    this.attachedBefore = true;
    this.shell.start();
    return detach;
  }

  /** Opens `device` and keeps it open across unplug/re-plug. */
  startSerial(options: Omit<SerialTransportOptions, 'onUp' | 'onDown' | 'logger'>): SerialTransport {
    this.transport?.stop();
    const transport = new SerialTransport({
      ...options,
      logger: this.log,
      onUp: (port) => this.attach(port),
      onDown: () => this.detachCurrent?.(),
    });
    this.transport = transport;
    transport.start();
    return transport;
  }

  close(): void {
    this.shell.close();
    this.transport?.stop();
    this.transport = undefined;
    this.detachCurrent?.();
  }

  private write(text: string): void {
    const stream = this.stream;
    if (!stream || stream.destroyed || !stream.writable) {
      this.counters.droppedOutput += text.length;
      return;
    }
    if (stream.writableLength > MAX_OUTPUT_BACKLOG) {
      this.counters.droppedOutput += text.length;
      if (!this.droppingSince) {
        this.droppingSince = this.counters.droppedOutput - text.length;
        // Once the line has caught up, say what was lost and put the prompt back.
        stream.once('drain', () => {
          const lost = this.counters.droppedOutput - (this.droppingSince ?? 0);
          this.droppingSince = undefined;
          if (this.stream === stream)
            stream.write(Buffer.from(`\r\n[${lost} bytes of output dropped: the line was too slow]\r\n${this.shell.editor.redraw()}`, 'latin1'));
        });
      }
      return;
    }
    stream.write(Buffer.from(text, 'latin1'));
  }
}
