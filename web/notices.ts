// Progress and results of actions, shown in one live region so screen
// readers hear them too. Errors stay until dismissed; successes fade.

import { errorText } from './api.js';
import { Store } from './store.js';

export interface Notice {
  id: number;
  kind: 'busy' | 'ok' | 'error';
  text: string;
}

export const notices = new Store<Notice[]>([]);
let nextId = 1;
const OK_VISIBLE_MS = 6000;

function put(notice: Notice): void {
  notices.update((list) => [...list.filter((n) => n.id !== notice.id), notice].slice(-6));
}

export function dismiss(id: number): void {
  notices.update((list) => list.filter((n) => n.id !== id));
}

/**
 * Runs an action with a "busy" notice, then replaces it by the result: `done`
 * turns the action's value into words, failures show the API's message.
 */
export async function track<T>(label: string, action: () => Promise<T>, done: (value: T) => string | { error: string }): Promise<T | undefined> {
  const id = nextId++;
  put({ id, kind: 'busy', text: `${label}…` });
  try {
    const value = await action();
    const outcome = done(value);
    if (typeof outcome === 'string') {
      put({ id, kind: 'ok', text: outcome });
      setTimeout(() => dismiss(id), OK_VISIBLE_MS);
    } else {
      put({ id, kind: 'error', text: outcome.error });
    }
    return value;
  } catch (error) {
    put({ id, kind: 'error', text: `${label} failed: ${errorText(error)}` });
    return undefined;
  }
}
