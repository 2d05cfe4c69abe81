// Who is using the UI: before setup, logged out, or logged in with a CSRF token.

import type { AuthState, SessionInfo } from '../firmware/src/model/api.js';
import { api, errorText, onUnauthorized, setCsrfToken } from './api.js';
import { Store } from './store.js';

export type SessionPhase =
  | { kind: 'loading' }
  | { kind: 'unreachable'; message: string }
  | { kind: 'setup' }
  | { kind: 'login'; reason?: string }
  | { kind: 'ready'; session: SessionInfo };

export const session = new Store<SessionPhase>({ kind: 'loading' });

onUnauthorized(() => {
  if (session.value.kind === 'ready') signedOut('Your session ended; log in again.');
});

export async function checkSession(): Promise<void> {
  try {
    const state = await api<AuthState>('GET', '/auth/state');
    if (!state.setupDone) return session.set({ kind: 'setup' });
    if (!state.authenticated) return session.set({ kind: 'login' });
    signedIn(await api<SessionInfo>('GET', '/auth/session'));
  } catch (error) {
    session.set({ kind: 'unreachable', message: errorText(error) });
  }
}

export function signedIn(info: SessionInfo): void {
  setCsrfToken(info.csrfToken);
  session.set({ kind: 'ready', session: info });
}

export function signedOut(reason?: string): void {
  setCsrfToken('');
  session.set({ kind: 'login', reason });
}
