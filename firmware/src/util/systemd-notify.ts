// Tells systemd how rackboot is doing (sd_notify(3)): READY=1 once DHCP, TFTP and
// HTTP are serving, so units ordered after rackboot start only then; WATCHDOG=1 on
// a timer, so a wedged event loop (no timer fires) gets the process restarted by
// WatchdogSec= instead of leaving a rack without its boot server; STOPPING=1 on
// the way out. Outside systemd ($NOTIFY_SOCKET unset) every call does nothing.

import type { Logger } from './log.js';

export interface SystemdNotifier {
  /** Service is up; `status` is shown by `systemctl status`. */
  ready(status: string): void;
  stopping(): void;
  /** Stops the watchdog timer. */
  close(): void;
  /** Milliseconds between watchdog pings, undefined when systemd asked for none. */
  readonly watchdogIntervalMs: number | undefined;
}

export interface SystemdNotifierOptions {
  env?: NodeJS.ProcessEnv;
  pid?: number;
  send: (socketPath: string, message: string) => void;
  log: Logger;
}

/**
 * Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends, when the watchdog is
 * meant for this process (WATCHDOG_PID unset or ours).
 */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export function systemdNotifier(opts: SystemdNotifierOptions): SystemdNotifier {
  const env = opts.env ?? process.env;
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return { ready() {}, stopping() {}, close() {}, watchdogIntervalMs: undefined };

  let failed = false;
  const send = (message: string): void => {
    try {
      opts.send(socketPath, message);
    } catch (error) {
      // Once is enough: a watchdog that cannot ping logs every few seconds otherwise.
      if (!failed) opts.log.warn('cannot notify systemd', { socket: socketPath, error: error as Error });
      failed = true;
    }
  };
  const interval = watchdogInterval(env, opts.pid ?? process.pid);
  let timer: NodeJS.Timeout | undefined;
  return {
    watchdogIntervalMs: interval,
    ready(status) {
      send(`READY=1\nSTATUS=${status.replace(/\n/g, ' ')}`);
      if (interval !== undefined && !timer) {
        timer = setInterval(() => send('WATCHDOG=1'), interval);
        timer.unref();
      }
    },
    stopping() {
      clearInterval(timer);
      timer = undefined;
      send('STOPPING=1');
    },
    close() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
