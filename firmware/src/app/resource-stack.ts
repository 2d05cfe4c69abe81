// What the running app has opened, in the order it opened it, so one path
// closes it all: a start-up that fails half-way and a normal stop unwind the
// same way, and nothing opened can be forgotten by one of them.

import type { Logger } from '../util/log.js';

interface Step {
  name: string;
  close(): void | Promise<void>;
}

export class ResourceStack {
  private readonly steps: Step[] = [];

  /** Records how to close something just opened; it is closed before anything pushed earlier. */
  push(name: string, close: () => void | Promise<void>): void {
    this.steps.push({ name, close });
  }

  /**
   * Closes everything pushed, last first. Each step runs even if an earlier one
   * failed (a store left open loses nothing, but a lock left held keeps the next
   * rackboot out); a failure is logged as `stopping <name> failed`. Returns
   * whether every step was clean. The stack is empty afterwards.
   */
  async closeAll(log: Pick<Logger, 'error'>): Promise<boolean> {
    let clean = true;
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.close();
      } catch (error) {
        clean = false;
        log.error(`stopping ${step.name} failed`, { error: error as Error });
      }
    }
    return clean;
  }
}
