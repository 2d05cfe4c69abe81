// Browser sessions, kept in memory only: a restart of rackboot logs everyone
// out, which is acceptable for an appliance and means no session secret ever
// reaches the disk. The map is keyed by the SHA-256 of the session id, so the
// id itself is held only by the browser.

import { randomSecret, sha256Hex } from './secrets.js';

export interface SessionLimits {
  /** A session unused for this long ends. */
  idleMs: number;
  /** A session ends this long after login, used or not. */
  maxAgeMs: number;
  /** Sessions kept at once; the least recently used goes first past this. */
  maxSessions: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 12 * 3600_000, maxAgeMs: 7 * 24 * 3600_000, maxSessions: 64 };

export interface Session {
  /** sha256 of the id: the map key, safe to log. */
  readonly key: string;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeenAt: number;
  readonly address: string;
}

export class SessionStore {
  private readonly limits: SessionLimits;
  /** Least recently used first (re-inserted on use). */
  private readonly sessions = new Map<string, Session>();

  /** `onEnd` hears the key of every session that ends, however it ends (logout, password change, expiry, eviction). */
  constructor(
    limits: Partial<SessionLimits> = {},
    private readonly onEnd: (key: string) => void = () => {},
  ) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
  }

  /** A new session; the returned id goes into the cookie and is not kept. */
  create(now: number, address: string): { id: string; session: Session } {
    const id = randomSecret(32);
    const session: Session = { key: sha256Hex(id), csrfToken: randomSecret(24), createdAt: now, lastSeenAt: now, address };
    this.sessions.set(session.key, session);
    while (this.sessions.size > this.limits.maxSessions) {
      const oldest = this.sessions.keys().next().value as string;
      this.remove(oldest);
    }
    return { id, session };
  }

  /** The live session for a cookie value, touched (idle timer restarted); undefined when unknown or expired. */
  use(id: string, now: number): Session | undefined {
    const key = sha256Hex(id);
    const session = this.sessions.get(key);
    if (!session) return undefined;
    if (this.expiresAt(session) <= now) {
      this.remove(key);
      return undefined;
    }
    session.lastSeenAt = now;
    this.sessions.delete(key);
    this.sessions.set(key, session);
    return session;
  }

  expiresAt(session: Session): number {
    return Math.min(session.lastSeenAt + this.limits.idleMs, session.createdAt + this.limits.maxAgeMs);
  }

  end(session: Session): void {
    this.remove(session.key);
  }

  /** Whether the session is still live, without touching it (an open event stream asks this; it is not use). */
  isLive(key: string, now: number): boolean {
    const session = this.sessions.get(key);
    return session !== undefined && this.expiresAt(session) > now;
  }

  /** Ends every session but `keep` (after a password change). Returns how many ended. */
  endAll(keep?: Session): number {
    let ended = 0;
    for (const key of [...this.sessions.keys()]) {
      if (key === keep?.key) continue;
      this.remove(key);
      ended++;
    }
    return ended;
  }

  /** Drops expired sessions (called now and then so abandoned ones do not pile up). */
  sweep(now: number): void {
    for (const [key, session] of [...this.sessions]) if (this.expiresAt(session) <= now) this.remove(key);
  }

  private remove(key: string): void {
    if (this.sessions.delete(key)) this.onEnd(key);
  }

  get size(): number {
    return this.sessions.size;
  }
}
