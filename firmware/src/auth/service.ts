// The admin account, browser sessions and API tokens: the one authority the
// REST API and the serial console ask "who is this, and may they?".
//
// - No default password. While none is set, a one-time setup token exists (in
//   memory; a restart before setup makes a new one). It is logged once at warn
//   level, shown by the console, and consumed by the first successful setup.
// - The password hash (scrypt) and the API tokens (SHA-256 of the secret; the
//   secret is shown once) live in the crash-safe store `auth` under the state
//   directory. Sessions live in memory only: a restart logs everyone out.
// - Wrong passwords and setup tokens are throttled per address and overall
//   (throttle.ts). Setup, lockouts, password changes and token changes are
//   reported through onEvent (the app turns them into 'auth' events).
// - Whatever ends access (logout, a password change, a session's expiry or
//   eviction, a token's revocation) is told to onAccessEnded listeners at
//   once, so long-lived connections opened with that access (event streams)
//   end with it.

import type { ApiTokenCreated, ApiTokenInfo, SessionInfo } from '../model/api.js';
import { Journal } from '../store/journal.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { DEFAULT_SCRYPT_PARAMS, hashPassword, isPasswordHash, passwordProblem, verifyPassword, type PasswordHash, type ScryptParams } from './password.js';
import { canonicalSetupToken, constantTimeEqual, createSetupToken, randomSecret, sha256Hex } from './secrets.js';
import { SessionStore, type Session, type SessionLimits } from './sessions.js';
import { AttemptThrottle, type ThrottleOptions, type ThrottleVerdict } from './throttle.js';

export const AUTH_STORE_NAME = 'auth';
export const MAX_API_TOKENS = 100;
const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOKEN_PREFIX = 'rbt_';
/** lastUsedAt reaches the disk at most this often per token (a script polling every second must not write every second). */
const LAST_USED_PERSIST_MS = 10 * 60_000;
/** Individual login failures become at most one event per this interval (lockouts always do). */
const FAILURE_EVENT_INTERVAL_MS = 60_000;
const SWEEP_INTERVAL_MS = 10 * 60_000;

/** A refusal the API passes on as is: HTTP status, machine code, words for people, the field, Retry-After. */
export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

export interface AuthEventInput {
  message: string;
  by?: string;
  detail?: Record<string, unknown>;
}

/** What stopped granting access: one session (by its key, the SHA-256 of its id) or one API token (by the SHA-256 of its secret). */
export type Access = { kind: 'session'; key: string } | { kind: 'token'; key: string; name: string };

export interface AuthServiceOptions {
  log: Logger;
  clock: Clock;
  /** Told about setup, lockouts, password changes and token changes (the app records them as 'auth' events). */
  onEvent?(event: AuthEventInput): void;
  scrypt?: ScryptParams;
  sessions?: Partial<SessionLimits>;
  throttle?: Partial<ThrottleOptions>;
}

interface AdminRecord {
  kind: 'admin';
  password: PasswordHash;
  changedAt: number;
  changedBy: string;
}

interface TokenRecord {
  kind: 'token';
  name: string;
  /** sha256 hex of the secret. */
  hash: string;
  createdAt: number;
  createdBy: string;
  lastUsedAt?: number;
}

type AuthRecord = AdminRecord | TokenRecord;

const ADMIN_KEY = 'admin';
const tokenKey = (name: string) => `token:${name}`;

export interface LoggedIn {
  /** Goes into the cookie; not kept by rackboot. */
  sessionId: string;
  session: Session;
}

export class AuthService {
  private readonly sessions: SessionStore;
  private readonly loginThrottle: AttemptThrottle;
  private readonly setupThrottle: AttemptThrottle;
  private readonly tokensByHash = new Map<string, TokenRecord>();
  private readonly tokenLastPersisted = new Map<string, number>();
  private readonly accessListeners = new Set<(ended: Access) => void>();
  private admin: AdminRecord | undefined;
  private pendingSetupToken: string | undefined;
  /** A setup or password write is under way: a second one waits its turn instead of racing it. */
  private passwordWrite: Promise<unknown> = Promise.resolve();
  private setupInProgress = false;
  private failureEventAt = -Infinity;
  private failuresSinceEvent = 0;
  private lastSweepAt: number;
  private readonly log: Logger;

  private constructor(
    private readonly journal: Journal<AuthRecord>,
    private readonly opts: AuthServiceOptions,
  ) {
    this.log = opts.log.child({ component: 'auth' });
    this.sessions = new SessionStore(opts.sessions, (key) => this.accessEnded({ kind: 'session', key }));
    this.loginThrottle = new AttemptThrottle(opts.throttle);
    this.setupThrottle = new AttemptThrottle(opts.throttle);
    this.lastSweepAt = opts.clock.now();
    for (const [key, record] of journal.entries()) {
      if (record.kind === 'admin' && key === ADMIN_KEY) this.admin = record;
      else if (record.kind === 'token' && key === tokenKey(record.name)) {
        this.tokensByHash.set(record.hash, record);
        this.tokenLastPersisted.set(record.name, record.lastUsedAt ?? 0);
      }
    }
    if (!this.admin) {
      this.pendingSetupToken = createSetupToken();
      this.log.warn(`setup token: ${this.pendingSetupToken}`, {
        hint: 'open the web UI (or use the console command passwd) and set the admin password with this token; it works once',
      });
    }
  }

  static async open(stateDir: string, opts: AuthServiceOptions): Promise<AuthService> {
    const journal = await Journal.open<AuthRecord>(stateDir, AUTH_STORE_NAME, {
      validate: isAuthRecord,
      logger: opts.log.child({ component: 'auth-store' }),
    });
    return new AuthService(journal, opts);
  }

  state(): { setupDone: boolean } {
    return { setupDone: this.admin !== undefined };
  }

  /** The one-time setup token while no password is set (for the console), else undefined. */
  setupToken(): string | undefined {
    return this.pendingSetupToken;
  }

  // ---- setup, login, password -------------------------------------------------

  /** First start: the setup token sets the admin password and logs the caller in. */
  async completeSetup(token: string, password: string, address: string): Promise<LoggedIn> {
    const now = this.opts.clock.now();
    if (this.admin || this.setupInProgress || this.pendingSetupToken === undefined) {
      throw new AuthError(403, 'already_set_up', 'The admin password is already set; log in instead.');
    }
    this.refuseIfThrottled(this.setupThrottle.check(address, now), 'setup attempts');
    if (!constantTimeEqual(canonicalSetupToken(token), canonicalSetupToken(this.pendingSetupToken))) {
      this.reportFailure('setup token', address, this.setupThrottle.failure(address, now));
      throw new AuthError(401, 'bad_setup_token', 'token: that is not the setup token (it is in the log and on the serial console).', 'token');
    }
    const problem = passwordProblem(password);
    if (problem) throw new AuthError(400, 'bad_request', `password: ${problem}`, 'password');
    // Claimed before the first await: a second request with the same token cannot also succeed.
    this.setupInProgress = true;
    try {
      await this.writePassword(password, 'setup');
    } finally {
      this.setupInProgress = false;
    }
    this.pendingSetupToken = undefined;
    this.setupThrottle.success(address);
    this.log.info('admin password set; setup token used up', { address });
    this.emit({ message: `Setup done: admin password set from ${address}`, by: 'admin', detail: { address } });
    return this.startSession(address);
  }

  async login(password: string, address: string): Promise<LoggedIn> {
    const now = this.opts.clock.now();
    if (!this.admin) throw new AuthError(403, 'setup_required', 'No admin password is set yet: complete the setup with the setup token first.');
    this.refuseIfThrottled(this.loginThrottle.check(address, now), 'login attempts');
    // Counted as a failure until proven right: parallel guesses cannot all start before the first is counted.
    const verdict = this.loginThrottle.failure(address, now);
    const ok = password.length <= 4 * 1024 && (await verifyPassword(password, this.admin.password));
    if (!ok) {
      this.reportFailure('login', address, verdict);
      throw new AuthError(401, 'bad_password', 'password: wrong password.', 'password');
    }
    this.loginThrottle.success(address, now);
    return this.startSession(address);
  }

  /** The console's check (no throttle: whoever holds the console cable is already in the room). */
  async verifyPassword(password: string): Promise<boolean> {
    if (!this.admin) return false;
    return verifyPassword(password, this.admin.password);
  }

  /**
   * The console's `passwd` started before setup: sets the first admin password
   * and completes the setup, unless a password was set (or a setup begun)
   * meanwhile, through the web UI or another console session; then 409
   * `already_set_up`, and the password set first stays.
   */
  async setFirstPassword(password: string, by: string): Promise<void> {
    const problem = passwordProblem(password);
    if (problem) throw new AuthError(400, 'bad_request', `password: ${problem}`, 'password');
    if (this.admin || this.setupInProgress) {
      throw new AuthError(409, 'already_set_up', 'The admin password was set meanwhile (through the web UI?); log in with it, then use passwd to change it.');
    }
    // Claimed before the first await, as completeSetup does: whichever setup starts first is the only one.
    this.setupInProgress = true;
    try {
      await this.setPassword(password, by);
    } finally {
      this.setupInProgress = false;
    }
  }

  /**
   * Sets the admin password (console `passwd` after login, or the API after
   * checking the current one). Ends every session but `keep`. Before setup it
   * also completes the setup and retires the setup token.
   */
  async setPassword(password: string, by: string, keep?: Session): Promise<void> {
    const problem = passwordProblem(password);
    if (problem) throw new AuthError(400, 'bad_request', `password: ${problem}`, 'password');
    const firstTime = !this.admin;
    await this.writePassword(password, by);
    this.pendingSetupToken = undefined;
    const ended = this.sessions.endAll(keep);
    this.log.info(firstTime ? 'admin password set' : 'admin password changed', { by, sessionsEnded: ended });
    this.emit({ message: firstTime ? 'Setup done: admin password set' : 'Admin password changed', by, detail: { sessionsEnded: ended } });
  }

  /** The API's password change: the current password is checked (and throttled like a login). */
  async changePassword(session: Session | undefined, current: string, password: string, address: string): Promise<void> {
    const now = this.opts.clock.now();
    this.refuseIfThrottled(this.loginThrottle.check(address, now), 'password attempts');
    const problem = passwordProblem(password);
    if (problem) throw new AuthError(400, 'bad_request', `password: ${problem}`, 'password');
    const verdict = this.loginThrottle.failure(address, now);
    if (!this.admin || !(await verifyPassword(current, this.admin.password))) {
      this.reportFailure('password change', address, verdict);
      throw new AuthError(403, 'bad_password', 'current: wrong current password.', 'current');
    }
    this.loginThrottle.success(address, now);
    await this.setPassword(password, 'admin', session);
  }

  // ---- sessions ---------------------------------------------------------------

  /** The session behind a cookie value, or undefined (unknown, expired or ended). */
  useSession(sessionId: string): Session | undefined {
    const now = this.opts.clock.now();
    this.sweepNow(now);
    return this.sessions.use(sessionId, now);
  }

  sessionInfo(session: Session): SessionInfo {
    return { user: 'admin', csrfToken: session.csrfToken, expiresAt: this.sessions.expiresAt(session) };
  }

  logout(session: Session): void {
    this.sessions.end(session);
  }

  /** Whether `access` still grants access now (a session not ended or expired, a token not revoked). Touches nothing. */
  isLive(access: Access): boolean {
    if (access.kind === 'session') return this.sessions.isLive(access.key, this.opts.clock.now());
    return this.tokensByHash.has(access.key);
  }

  /** Calls `listener` whenever a session or token stops granting access; returns the unsubscribe function. */
  onAccessEnded(listener: (ended: Access) => void): () => void {
    this.accessListeners.add(listener);
    return () => this.accessListeners.delete(listener);
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  // ---- API tokens -------------------------------------------------------------

  listTokens(): ApiTokenInfo[] {
    return [...this.tokensByHash.values()]
      .map((t) => ({ name: t.name, createdAt: t.createdAt, ...(t.lastUsedAt !== undefined && { lastUsedAt: t.lastUsedAt }) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A new token; its secret is in the answer and nowhere else. */
  async createToken(name: string, by: string): Promise<ApiTokenCreated> {
    if (!TOKEN_NAME_PATTERN.test(name)) {
      throw new AuthError(
        400,
        'bad_request',
        `name: expected letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit), found ${JSON.stringify(name.slice(0, 80))}`,
        'name',
      );
    }
    if (this.findToken(name))
      throw new AuthError(409, 'conflict', `name: a token called ${name} exists already; revoke it first or choose another name.`, 'name');
    if (this.tokensByHash.size >= MAX_API_TOKENS) throw new AuthError(409, 'conflict', `At most ${MAX_API_TOKENS} API tokens; revoke unused ones first.`);
    const secret = TOKEN_PREFIX + randomSecret(32);
    const record: TokenRecord = { kind: 'token', name, hash: sha256Hex(secret), createdAt: this.opts.clock.now(), createdBy: by };
    // In the map before the write, so a concurrent create with the same name is refused.
    this.tokensByHash.set(record.hash, record);
    try {
      await this.journal.put(tokenKey(name), record);
    } catch (error) {
      this.tokensByHash.delete(record.hash);
      throw error;
    }
    this.tokenLastPersisted.set(name, 0);
    this.log.info('api token created', { name, by });
    this.emit({ message: `API token ${name} created`, by, detail: { token: name } });
    return { name, createdAt: record.createdAt, token: secret };
  }

  async revokeToken(name: string, by: string): Promise<void> {
    const record = this.findToken(name);
    if (!record) throw new AuthError(404, 'not_found', `No API token called ${JSON.stringify(name.slice(0, 80))}.`, 'name');
    // Out of the map first: the token stops working now, not when the disk says so.
    this.tokensByHash.delete(record.hash);
    this.tokenLastPersisted.delete(name);
    this.accessEnded({ kind: 'token', key: record.hash, name });
    await this.journal.delete(tokenKey(name));
    this.log.info('api token revoked', { name, by });
    this.emit({ message: `API token ${name} revoked`, by, detail: { token: name } });
  }

  /** The token behind a bearer secret, or undefined. Records its use. */
  useToken(secret: string): { name: string; key: string } | undefined {
    if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return undefined;
    const record = this.tokensByHash.get(sha256Hex(secret));
    if (!record) return undefined;
    const now = this.opts.clock.now();
    record.lastUsedAt = now;
    if (now - (this.tokenLastPersisted.get(record.name) ?? 0) >= LAST_USED_PERSIST_MS) {
      this.tokenLastPersisted.set(record.name, now);
      this.journal.put(tokenKey(record.name), { ...record }).catch((error: unknown) => {
        this.log.warn('could not record api token use', { name: record.name, error: error as Error });
      });
    }
    return { name: record.name, key: record.hash };
  }

  close(): Promise<void> {
    return this.journal.close();
  }

  // ---- internals ----------------------------------------------------------------

  private findToken(name: string): TokenRecord | undefined {
    for (const record of this.tokensByHash.values()) if (record.name === name) return record;
    return undefined;
  }

  private startSession(address: string): LoggedIn {
    const { id, session } = this.sessions.create(this.opts.clock.now(), address);
    return { sessionId: id, session };
  }

  /** Password writes go one after another, so the last one asked for is the one on disk. */
  private writePassword(password: string, by: string): Promise<void> {
    const write = this.passwordWrite.then(async () => {
      const record: AdminRecord = {
        kind: 'admin',
        password: await hashPassword(password, this.opts.scrypt ?? DEFAULT_SCRYPT_PARAMS),
        changedAt: this.opts.clock.now(),
        changedBy: by,
      };
      await this.journal.put(ADMIN_KEY, record);
      this.admin = record;
    });
    this.passwordWrite = write.catch(() => undefined);
    return write;
  }

  private refuseIfThrottled(verdict: ThrottleVerdict, what: string): void {
    if (verdict.allowed) return;
    const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
    const whose = verdict.scope === 'global' ? 'while many addresses fail at once, from an address that failed recently' : 'from this address';
    throw new AuthError(429, 'rate_limited', `Too many failed ${what} ${whose}; try again in ${seconds} s.`, undefined, seconds);
  }

  private reportFailure(what: string, address: string, verdict: ThrottleVerdict & { lockoutStarted: boolean }): void {
    const now = this.opts.clock.now();
    this.failuresSinceEvent++;
    if (verdict.lockoutStarted && !verdict.allowed) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      const message =
        verdict.scope === 'global'
          ? `Too many failed ${what} attempts from many addresses: addresses that failed recently wait up to ${seconds} s, others may still log in`
          : `Too many failed ${what} attempts: ${address} locked out for ${seconds} s`;
      this.log.warn('too many failed attempts; locked out', { what, address, scope: verdict.scope, seconds });
      this.emit({ message, detail: { address, scope: verdict.scope, seconds } });
      this.failuresSinceEvent = 0;
      this.failureEventAt = now;
      return;
    }
    if (now - this.failureEventAt < FAILURE_EVENT_INTERVAL_MS) return;
    const count = this.failuresSinceEvent;
    this.failuresSinceEvent = 0;
    this.failureEventAt = now;
    this.log.warn(`failed ${what}`, { address, failuresSinceLastReport: count });
    this.emit({
      message: `Failed ${what} from ${address}` + (count > 1 ? ` (${count} failures since the last report)` : ''),
      detail: { address, failures: count },
    });
  }

  private accessEnded(ended: Access): void {
    for (const listener of [...this.accessListeners]) {
      try {
        listener(ended);
      } catch (error) {
        this.log.warn('access-ended listener failed', { error: error as Error });
      }
    }
  }

  private emit(event: AuthEventInput): void {
    try {
      this.opts.onEvent?.(event);
    } catch (error) {
      this.log.warn('auth event listener failed', { error: error as Error });
    }
  }

  private sweepNow(now: number): void {
    if (now - this.lastSweepAt < SWEEP_INTERVAL_MS) return;
    this.lastSweepAt = now;
    this.sessions.sweep(now);
  }
}

function isAuthRecord(value: unknown): value is AuthRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (v.kind === 'admin') return isPasswordHash(v.password) && typeof v.changedAt === 'number' && typeof v.changedBy === 'string';
  if (v.kind === 'token') {
    return (
      typeof v.name === 'string' &&
      TOKEN_NAME_PATTERN.test(v.name) &&
      typeof v.hash === 'string' &&
      /^[0-9a-f]{64}$/.test(v.hash) &&
      typeof v.createdAt === 'number' &&
      typeof v.createdBy === 'string' &&
      (v.lastUsedAt === undefined || typeof v.lastUsedAt === 'number')
    );
  }
  return false;
}
