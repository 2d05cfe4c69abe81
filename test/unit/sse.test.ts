// The event stream over a real HTTP server: delivery, Last-Event-ID resume
// without gaps or repeats, keep-alive comments, the stream cap, and a client
// that stops reading being dropped with bounded memory.

import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthService } from '../../firmware/src/auth/service.js';
import { createApi, type Api } from '../../firmware/src/http/api/routes.js';
import type { ApiHost, EventsQuery } from '../../firmware/src/http/api/host.js';
import type { RackbootEvent } from '../../firmware/src/model/api.js';
import { createHttpServer, type RackbootHttpServer } from '../../firmware/src/http/server.js';
import type { SseLimits } from '../../firmware/src/http/sse.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

class EventHost {
  log: RackbootEvent[] = [];
  listeners = new Set<(e: RackbootEvent) => void>();
  /** When set, events() waits for it (to append events while a resume is reading the backlog). */
  gate: Promise<void> | undefined;
  nextId = 1;

  append(message: string, extra = ''): RackbootEvent {
    const event: RackbootEvent = {
      id: this.nextId++,
      at: 1000 + this.nextId,
      type: 'stage',
      mac: '52:54:00:00:00:01',
      stage: 'kernel',
      message: message + extra,
    };
    this.log.push(event);
    for (const listener of this.listeners) listener(event);
    return event;
  }
  async events(query: EventsQuery): Promise<RackbootEvent[]> {
    if (this.gate) await this.gate;
    return this.log.filter((e) => query.after === undefined || e.id > query.after).slice(0, query.limit ?? 1000);
  }
  subscribeEvents(listener: (e: RackbootEvent) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

let dir: string;
let host: EventHost;
let auth: AuthService;
let api: Api;
let http: RackbootHttpServer;
let counters: Counters;
let bearer: string;
let port: number;

async function start(limits: Partial<SseLimits> = {}, httpLimits: Parameters<typeof createHttpServer>[0]['limits'] = {}) {
  auth = await AuthService.open(dir, { log: silentLogger, clock: { now: () => Date.now() }, scrypt: { N: 1024, r: 8, p: 1 } });
  await auth.setPassword('password123', 'console');
  bearer = (await auth.createToken('sse', 'test')).token;
  counters = new Counters();
  api = createApi({ host: host as unknown as ApiHost, auth, log: silentLogger, counters, clock: { now: () => Date.now() }, sse: limits });
  http = createHttpServer({
    root: dir,
    resolveNode: () => Promise.resolve(undefined),
    profiles: {},
    defaultProfile: 'x',
    serverBase: 'http://127.0.0.1',
    log: silentLogger,
    counters,
    extraRoutes: api.routes,
    limits: httpLimits,
  });
  await http.listen(0, '127.0.0.1');
  port = http.address().port;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rbapi-sse-'));
  host = new EventHost();
});

afterEach(async () => {
  api.close();
  await http.close();
  await auth.close();
  await rm(dir, { recursive: true, force: true });
});

interface StreamEvent {
  id: number;
  type: string;
  data: RackbootEvent;
}

interface Client {
  res: IncomingMessage;
  /** Complete events received so far, parsed as they arrive. */
  events: StreamEvent[];
  /** Comment lines received (without the colon). */
  comments: string[];
  until(predicate: (client: Client) => boolean): Promise<void>;
  close(): void;
}

function openStream(headers: Record<string, string> = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/api/v1/events/stream', headers: { Authorization: `Bearer ${bearer}`, ...headers }, agent: false },
      (res) => {
        let partial = '';
        const waiters = new Set<() => void>();
        const client: Client = {
          res,
          events: [],
          comments: [],
          until: (predicate) =>
            new Promise((ok) => {
              const check = () => {
                if (predicate(client)) {
                  waiters.delete(check);
                  ok();
                }
              };
              waiters.add(check);
              check();
            }),
          close: () => req.destroy(),
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          partial += chunk;
          const blocks = partial.split('\n\n');
          partial = blocks.pop()!;
          for (const block of blocks) parseBlock(block, client);
          for (const w of [...waiters]) w();
        });
        resolve(client);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One SSE block: comment lines, or id/event/data lines of one event. */
function parseBlock(block: string, client: Client): void {
  const lines = block.split('\n');
  for (const line of lines) if (line.startsWith(':')) client.comments.push(line.slice(1).trim());
  const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
  const data = field('data');
  if (data === undefined) return;
  client.events.push({ id: Number(field('id')), type: field('event')!, data: JSON.parse(data) as RackbootEvent });
}

describe('event stream', () => {
  it('needs authentication', async () => {
    await start();
    const client = await openStream({ Authorization: '' });
    expect(client.res.statusCode).toBe(401);
    client.close();
  });

  it('accepts the session cookie, as a browser EventSource sends it', async () => {
    await start();
    const { sessionId } = await auth.login('password123', '127.0.0.1');
    const client = await openStream({ Authorization: '', Cookie: `rackboot_session=${sessionId}` });
    expect(client.res.statusCode).toBe(200);
    client.close();
    const stale = await openStream({ Authorization: '', Cookie: 'rackboot_session=forged' });
    expect(stale.res.statusCode).toBe(401);
    stale.close();
  });

  it('delivers events with id, event and data lines', async () => {
    await start();
    const client = await openStream();
    expect(client.res.statusCode).toBe(200);
    expect(client.res.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(client.res.headers['cache-control']).toBe('no-store');
    await client.until((c) => c.comments.includes('connected'));
    host.append('first');
    host.append('second', '\nwith a newline');
    await client.until((c) => c.events.length === 2);
    expect(client.events.map((e) => [e.id, e.type, e.data.message])).toEqual([
      [1, 'stage', 'first'],
      [2, 'stage', 'second\nwith a newline'],
    ]);
    client.close();
  });

  it('resumes from Last-Event-ID without gaps or repeats, also for events appended during the replay', async () => {
    await start();
    for (let i = 1; i <= 5; i++) host.append(`e${i}`);
    let release!: () => void;
    host.gate = new Promise((r) => (release = r));
    const client = await openStream({ 'Last-Event-ID': '2' });
    await client.until((c) => c.comments.includes('connected'));
    // Appended while the replay is still reading the log: it is both in the log and live.
    host.append('e6');
    release();
    host.gate = undefined;
    await client.until((c) => c.events.some((e) => e.id === 6));
    host.append('e7');
    await client.until((c) => c.events.some((e) => e.id === 7));
    expect(client.events.map((e) => e.id)).toEqual([3, 4, 5, 6, 7]);
    client.close();
  });

  it('still delivers new events when the client resumes from an id the log never reached (state wiped)', async () => {
    await start();
    host.append('e1');
    const client = await openStream({ 'Last-Event-ID': '5000' });
    await client.until((c) => c.comments.includes('connected'));
    host.append('e2');
    await client.until((c) => c.events.length === 1);
    expect(client.events.map((e) => e.id)).toEqual([2]);
    client.close();
  });

  it("outlives the HTTP server's request timeouts (they bound receiving a request, not a long response)", async () => {
    await start({}, { headersTimeoutMs: 150, requestTimeoutMs: 150, checkIntervalMs: 10 });
    const client = await openStream();
    await client.until((c) => c.comments.includes('connected'));
    await new Promise((r) => setTimeout(r, 600));
    host.append('still here');
    await client.until((c) => c.events.length === 1);
    expect(api.streams.active).toBe(1);
    client.close();
  });

  it('sends keep-alive comments', async () => {
    await start({ keepAliveMs: 20 });
    const client = await openStream();
    await client.until((c) => c.comments.includes('keep-alive'));
    client.close();
  });

  it('caps concurrent streams', async () => {
    await start({ maxStreams: 2 });
    const a = await openStream();
    const b = await openStream();
    const c = await openStream();
    expect(c.res.statusCode).toBe(503);
    expect(c.res.headers['retry-after']).toBe('10');
    a.close();
    await new Promise<void>((r) => a.res.once('close', r));
    while (api.streams.active > 1) await new Promise((r) => setTimeout(r, 5));
    const d = await openStream();
    expect(d.res.statusCode).toBe(200);
    b.close();
    c.close();
    d.close();
  });

  it('drops a client that stops reading, with bounded memory, and keeps serving the others', async () => {
    const maxBufferedBytes = 256 * 1024;
    await start({ maxBufferedBytes });
    const reader = await openStream();
    await reader.until((c) => c.comments.includes('connected'));

    // The slow client: a raw socket that sends the request and never reads.
    const slow = connect(port, '127.0.0.1');
    await new Promise<void>((r) => slow.once('connect', r));
    slow.write(`GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${bearer}\r\n\r\n`);
    slow.pause();
    while (api.streams.active < 2) await new Promise((r) => setTimeout(r, 5));

    const padding = 'x'.repeat(8 * 1024);
    let emitted = 0;
    let maxBuffered = 0;
    // Far more than loopback socket buffers hold; the slow stream must be cut long before.
    while (api.streams.active === 2 && emitted < 64 * 1024 * 1024) {
      for (let i = 0; i < 16; i++) {
        host.append('bulk', padding);
        emitted += padding.length;
        maxBuffered = Math.max(maxBuffered, api.streams.bufferedBytes());
      }
      await new Promise((r) => setImmediate(r));
      // The healthy reader keeps up.
      await reader.until((c) => c.events.length >= host.log.length);
    }
    expect(api.streams.active).toBe(1);
    expect(counters.get('sse.dropped.slow_client')).toBe(1);
    // Never more than the limit per stream.
    expect(maxBuffered).toBeLessThanOrEqual(2 * maxBufferedBytes);
    expect(maxBuffered).toBeGreaterThan(maxBufferedBytes / 2); // the slow stream really did back up
    expect(host.listeners.size).toBe(1);
    host.append('after');
    await reader.until((c) => c.events.some((e) => e.data.message === 'after'));
    slow.destroy();
    reader.close();
  });
});

/** A stream read the way a page's fetch() reads it: the body as it arrives, and whether the server ended it. */
interface FetchStream {
  status: number;
  text: string;
  ended: Promise<void>;
  has(text: string): Promise<void>;
  cancel(): void;
}

async function fetchStream(headers: Record<string, string>): Promise<FetchStream> {
  const controller = new AbortController();
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/events/stream`, { headers, signal: controller.signal });
  const stream: FetchStream = {
    status: response.status,
    text: '',
    ended: Promise.resolve(),
    has: (text) => waitFor(() => stream.text.includes(text)),
    cancel: () => controller.abort(),
  };
  let done = false;
  const waitFor = async (predicate: () => boolean) => {
    while (!predicate()) {
      if (done) throw new Error(`the stream ended; it had: ${stream.text}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  stream.ended = (async () => {
    try {
      for (;;) {
        const { done: finished, value } = await reader.read();
        if (finished) break;
        stream.text += decoder.decode(value, { stream: true });
      }
    } catch {
      // cancelled by the test
    }
    done = true;
  })();
  return stream;
}

async function apiLogin(): Promise<{ cookie: string; csrf: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ password: 'password123' }),
  });
  expect(response.status).toBe(200);
  const cookie = response.headers.get('set-cookie')!.split(';')[0];
  return { cookie, csrf: ((await response.json()) as { csrfToken: string }).csrfToken };
}

function post(path: string, who: { cookie: string; csrf: string }, body: unknown, method = 'POST'): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/api/v1/${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', Cookie: who.cookie, 'X-CSRF-Token': who.csrf },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

/** Resolves true when `stream` ended within `ms` (generous: only a stream that never ends takes that long). */
async function endsWithin(stream: FetchStream, ms = 5_000): Promise<boolean> {
  return Promise.race([stream.ended.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

describe('event streams end with the access they were opened with', () => {
  it('logout ends that session’s streams and no other', async () => {
    await start();
    const alice = await apiLogin();
    const bob = await apiLogin();
    const aliceStream = await fetchStream({ Cookie: alice.cookie });
    const bobStream = await fetchStream({ Cookie: bob.cookie });
    const tokenStream = await fetchStream({ Authorization: `Bearer ${bearer}` });
    for (const s of [aliceStream, bobStream, tokenStream]) {
      expect(s.status).toBe(200);
      await s.has(': connected');
    }
    expect((await post('auth/logout', alice, undefined)).status).toBe(200);
    expect(await endsWithin(aliceStream)).toBe(true);
    host.append('after logout');
    await bobStream.has('after logout');
    await tokenStream.has('after logout');
    expect(aliceStream.text).not.toContain('after logout');
    expect(counters.get('sse.closed.access_ended')).toBe(1);
    // Reconnecting with the ended session is refused.
    const again = await fetchStream({ Cookie: alice.cookie });
    expect(again.status).toBe(401);
    bobStream.cancel();
    tokenStream.cancel();
  });

  it('a password change ends the streams of every other session, not the changer’s or a token’s', async () => {
    await start();
    const changer = await apiLogin();
    const other = await apiLogin();
    const changerStream = await fetchStream({ Cookie: changer.cookie });
    const otherStream = await fetchStream({ Cookie: other.cookie });
    const tokenStream = await fetchStream({ Authorization: `Bearer ${bearer}` });
    await otherStream.has(': connected');
    const changed = await post('auth/password', changer, { current: 'password123', password: 'a new password' });
    expect(changed.status).toBe(200);
    expect(await endsWithin(otherStream)).toBe(true);
    host.append('after the change');
    await changerStream.has('after the change');
    await tokenStream.has('after the change');
    changerStream.cancel();
    tokenStream.cancel();
  });

  it('revoking a token ends the streams opened with it', async () => {
    await start();
    const admin = await apiLogin();
    const tokenStream = await fetchStream({ Authorization: `Bearer ${bearer}` });
    const sessionStream = await fetchStream({ Cookie: admin.cookie });
    await tokenStream.has(': connected');
    expect((await post('auth/tokens/sse', admin, undefined, 'DELETE')).status).toBe(200);
    expect(await endsWithin(tokenStream)).toBe(true);
    host.append('after revocation');
    await sessionStream.has('after revocation');
    expect(tokenStream.text).not.toContain('after revocation');
    expect((await fetchStream({ Authorization: `Bearer ${bearer}` })).status).toBe(401);
    sessionStream.cancel();
  });

  it('a session that expires ends its stream by the next keep-alive', async () => {
    let now = Date.now();
    auth = await AuthService.open(dir, { log: silentLogger, clock: { now: () => now }, scrypt: { N: 1024, r: 8, p: 1 }, sessions: { idleMs: 60_000 } });
    await auth.setPassword('password123', 'console');
    counters = new Counters();
    api = createApi({ host: host as unknown as ApiHost, auth, log: silentLogger, counters, clock: { now: () => now }, sse: { keepAliveMs: 20 } });
    http = createHttpServer({
      root: dir,
      resolveNode: () => Promise.resolve(undefined),
      profiles: {},
      defaultProfile: 'x',
      serverBase: 'http://127.0.0.1',
      log: silentLogger,
      counters,
      extraRoutes: api.routes,
    });
    await http.listen(0, '127.0.0.1');
    port = http.address().port;
    const session = await apiLogin();
    const stream = await fetchStream({ Cookie: session.cookie });
    await stream.has('keep-alive');
    now += 61_000;
    expect(await endsWithin(stream)).toBe(true);
  });
});
