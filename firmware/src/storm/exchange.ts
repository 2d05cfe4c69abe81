// The firmware retry loop of the virtual nodes: send, wait for an accepted reply,
// retransmit on each timeout of a schedule, as PXE ROMs and iPXE do.

import type { TimerHandle, Timers } from '../util/timers.js';

/**
 * Sends, then waits for a reply that `accept` takes, retransmitting after each
 * timeout of `schedule` (seconds). Resolves with the accepted reply, or
 * undefined once the last timeout has run out. `subscribe` hands every incoming
 * message to the callback and returns the unsubscribe function.
 */
export function exchange<T>(options: {
  timers: Timers;
  schedule: readonly number[];
  send: (attempt: number) => void;
  subscribe: (onMessage: (message: T) => void) => () => void;
  accept: (message: T) => boolean;
  /** Receives a function that ends the exchange early with a value (e.g. a proxy wait running out). */
  started?: (settle: (value: T | undefined) => void) => void;
}): Promise<T | undefined> {
  const { timers, schedule, send, subscribe, accept } = options;
  return new Promise((resolve) => {
    let attempt = 0;
    let timer: TimerHandle;
    let done = false;
    const finish = (value: T | undefined): void => {
      if (done) return;
      done = true;
      timers.clearTimer(timer);
      unsubscribe();
      resolve(value);
    };
    const unsubscribe = subscribe((message) => {
      if (accept(message)) finish(message);
    });
    const transmit = (): void => {
      if (attempt >= schedule.length) return finish(undefined);
      const wait = schedule[attempt] * 1000;
      try {
        send(attempt);
      } catch {
        // A send that fails (link down, no route) is a lost packet to firmware: it waits and retries.
      }
      if (done) return; // send() may settle the exchange instead of transmitting (iPXE's expiry rule)
      attempt++;
      timer = timers.setTimer(wait, transmit);
    };
    transmit();
    options.started?.(finish);
  });
}
