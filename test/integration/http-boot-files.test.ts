// The HTTP boot server against the real curl binary, on 127.0.0.1 in this
// process: whole files, HEAD, ranges, conditional requests, path confinement,
// /boot.ipxe, connection limits and slow clients — and a rack's worth of
// concurrent 30 MB downloads, checking every byte and the server's memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ProfileConfig } from '../../firmware/src/config/schema.js';
import type { HttpDownloadEvent } from '../../firmware/src/http/boot-files.js';
import type { HotFilesOptions } from '../../firmware/src/http/hot-files.js';
import { ipxeScriptFor } from '../../firmware/src/http/ipxe-script.js';
import { createHttpServer, type HttpEvent, type HttpLimits, type RackbootHttpServer, type ResolvedNode } from '../../firmware/src/http/server.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { createLogger } from '../../firmware/src/util/log.js';

const execFileP = promisify(execFile);

const SMALL_SIZE = 100_000;
const BIG_SIZE = 30 * 1024 * 1024;
const LOAD_CLIENTS = 200;
const SERVER_BASE = 'http://10.0.0.1:8080';

const profiles: Record<string, ProfileConfig> = {
  compute: { kind: 'linux', kernel: 'images/vmlinuz', initrds: ['images/initrd.img'], cmdline: 'console=ttyS0 hostname={name}' },
  rescue: { kind: 'chain', url: 'http://10.0.0.1:8080/rescue.ipxe' },
  disk: { kind: 'local' },
};
const inventory: ResolvedNode[] = [
  { name: 'node01', mac: '52:54:00:00:00:01', ip: '10.0.0.11', profile: 'compute' },
  { name: 'loopy', mac: '52:54:00:00:00:7f', ip: '127.0.0.1', profile: 'disk' },
];

let work: string;
let root: string;
let small: Buffer;
let bigSha: string;
let boot: RackbootHttpServer;
let base: string;
const events: HttpEvent[] = [];
const logLines: string[] = [];
const counters = new Counters();
let bodies = 0;

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Runs curl with headers to stdout and the body to a file; the last response's status and headers. */
async function curl(args: string[]): Promise<CurlResult> {
  const bodyFile = join(work, `body-${bodies++}`);
  const { stdout } = await execFileP('curl', ['-sS', '-D', '-', '-o', bodyFile, ...args], { encoding: 'utf8' });
  const blocks = stdout.split(/\r\n\r\n/).filter((block) => block.startsWith('HTTP/'));
  const lines = blocks[blocks.length - 1].split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = await readFile(bodyFile).catch(() => Buffer.alloc(0));
  await rm(bodyFile, { force: true });
  return { status, headers, body };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function downloads(path: string): HttpDownloadEvent[] {
  return events.filter((e): e is HttpDownloadEvent => e.type === 'http-download' && e.path === path);
}

async function startServer(limits: Partial<HttpLimits> = {}): Promise<RackbootHttpServer> {
  return createHttpServerFor({ limits });
}

async function createHttpServerFor(extra: { limits?: Partial<HttpLimits>; hotFiles?: HotFilesOptions | false }): Promise<RackbootHttpServer> {
  const limits = extra.limits ?? {};
  const server = createHttpServer({
    ...(extra.hotFiles !== undefined && { hotFiles: extra.hotFiles }),
    root,
    profiles,
    defaultProfile: 'compute',
    serverBase: SERVER_BASE,
    log: createLogger({ level: 'debug', format: 'json', write: (line) => logLines.push(line) }),
    counters,
    onEvent: (event) => events.push(event),
    resolveNode(query) {
      return Promise.resolve(inventory.find((node) => (query.mac !== undefined ? node.mac === query.mac : node.ip === query.ip)));
    },
    // Every client here is 127.0.0.1: the per-address cap would refuse the load test's 200.
    limits: { closeGraceMs: 500, maxConnectionsPerAddress: 1024, ...limits },
  });
  await server.listen(0, '127.0.0.1');
  return server;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rackboot-http-'));
  root = join(work, 'root');
  const outside = join(work, 'outside');
  await mkdir(join(root, 'images'), { recursive: true });
  await mkdir(outside);
  small = randomBytes(SMALL_SIZE);
  await writeFile(join(root, 'small.bin'), small);
  await writeFile(join(root, 'images', 'vmlinuz'), randomBytes(4096));
  await writeFile(join(root, 'images', 'initrd.img'), randomBytes(4096));
  await writeFile(join(root, 'hello.ipxe'), '#!ipxe\necho hello\n');
  await writeFile(join(root, 'empty.bin'), '');
  await writeFile(join(root, 'name with space.bin'), 'spaced');
  await writeFile(join(outside, 'secret.txt'), 'secret\n');
  await symlink('small.bin', join(root, 'link-inside'));
  await symlink(join(outside, 'secret.txt'), join(root, 'escape'));
  await symlink('../outside', join(root, 'escape-dir'));
  await execFileP('mkfifo', [join(root, 'fifo')]);
  const big = randomBytes(BIG_SIZE);
  bigSha = sha256(big);
  await writeFile(join(root, 'big.bin'), big);

  boot = await startServer();
  base = `http://127.0.0.1:${boot.address().port}`;
});

afterAll(async () => {
  await boot?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('boot files over HTTP (curl)', () => {
  it('GET: the whole file, byte for byte, with validators and Accept-Ranges', async () => {
    const result = await curl([`${base}/small.bin`]);
    expect(result.status).toBe(200);
    expect(sha256(result.body)).toBe(sha256(small));
    expect(result.headers['content-length']).toBe(String(SMALL_SIZE));
    expect(result.headers['content-type']).toBe('application/octet-stream');
    expect(result.headers['accept-ranges']).toBe('bytes');
    expect(result.headers['etag']).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(result.headers['last-modified']).toMatch(/GMT$/);
    expect(downloads('/small.bin').at(-1)).toMatchObject({ method: 'GET', status: 200, bytes: SMALL_SIZE, complete: true, remote: '127.0.0.1' });

    expect((await curl([`${base}/hello.ipxe`])).headers['content-type']).toBe('text/plain; charset=utf-8');
    const spaced = await curl([`${base}/name%20with%20space.bin`]);
    expect(spaced.body.toString()).toBe('spaced');
    const empty = await curl([`${base}/empty.bin`]);
    expect([empty.status, empty.body.length, empty.headers['content-length']]).toEqual([200, 0, '0']);
  });

  it('HEAD: the same headers, no body', async () => {
    const result = await curl(['-I', `${base}/small.bin`]);
    expect(result.status).toBe(200);
    expect(result.headers['content-length']).toBe(String(SMALL_SIZE));
    // With -I, curl writes the header block where the body would go: nothing may follow it.
    expect(result.body.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/);
    expect(result.body.length).toBeLessThan(400);
    // RFC 9110 14.2: Range is defined for GET only.
    const ranged = await curl(['-I', '-r', '0-9', `${base}/small.bin`]);
    expect([ranged.status, ranged.headers['content-length']]).toEqual([200, String(SMALL_SIZE)]);
  });

  it('Range: first bytes, suffix, open-ended, unsatisfiable, several', async () => {
    const first = await curl(['-r', '0-99', `${base}/small.bin`]);
    expect(first.status).toBe(206);
    expect(first.headers['content-range']).toBe(`bytes 0-99/${SMALL_SIZE}`);
    expect(first.headers['content-length']).toBe('100');
    expect(first.body.equals(small.subarray(0, 100))).toBe(true);

    const suffix = await curl(['-H', 'Range: bytes=-100', `${base}/small.bin`]);
    expect(suffix.status).toBe(206);
    expect(suffix.headers['content-range']).toBe(`bytes ${SMALL_SIZE - 100}-${SMALL_SIZE - 1}/${SMALL_SIZE}`);
    expect(suffix.body.equals(small.subarray(SMALL_SIZE - 100))).toBe(true);

    const open = await curl(['-r', '99000-', `${base}/small.bin`]);
    expect(open.status).toBe(206);
    expect(open.body.equals(small.subarray(99_000))).toBe(true);

    const unsatisfiable = await curl(['-r', `${SMALL_SIZE}-`, `${base}/small.bin`]);
    expect(unsatisfiable.status).toBe(416);
    expect(unsatisfiable.headers['content-range']).toBe(`bytes */${SMALL_SIZE}`);

    const several = await curl(['-r', '0-9,20-29', `${base}/small.bin`]);
    expect(several.status).toBe(200);
    expect(several.body.length).toBe(SMALL_SIZE);

    const malformed = await curl(['-H', 'Range: bytes=9-1', `${base}/small.bin`]);
    expect([malformed.status, malformed.body.length]).toEqual([200, SMALL_SIZE]);
  });

  it('If-Range: the range with the current ETag, the whole file with an old one', async () => {
    const { headers } = await curl(['-I', `${base}/small.bin`]);
    const current = await curl(['-r', '10-19', '-H', `If-Range: ${headers['etag']}`, `${base}/small.bin`]);
    expect(current.status).toBe(206);
    expect(current.body.equals(small.subarray(10, 20))).toBe(true);
    const stale = await curl(['-r', '10-19', '-H', 'If-Range: "stale"', `${base}/small.bin`]);
    expect([stale.status, stale.body.length]).toEqual([200, SMALL_SIZE]);
  });

  it('conditional GET: If-None-Match and If-Modified-Since give 304', async () => {
    const { headers } = await curl(['-I', `${base}/small.bin`]);
    const byTag = await curl(['-H', `If-None-Match: ${headers['etag']}`, `${base}/small.bin`]);
    expect(byTag.status).toBe(304);
    expect(byTag.body.length).toBe(0);
    expect(byTag.headers['etag']).toBe(headers['etag']);
    expect((await curl(['-H', 'If-None-Match: "other"', `${base}/small.bin`])).status).toBe(200);

    const byDate = await curl(['-H', `If-Modified-Since: ${headers['last-modified']}`, `${base}/small.bin`]);
    expect(byDate.status).toBe(304);
    expect((await curl(['-H', 'If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT', `${base}/small.bin`])).status).toBe(200);
    expect((await curl(['-H', 'If-Match: "other"', `${base}/small.bin`])).status).toBe(412);
  });

  it('refuses paths that leave the root, and keeps serving', async () => {
    const refusedBefore = logLines.filter((line) => line.includes('refused boot file request')).length;
    const attempts: [string, number][] = [
      ['/../../../../etc/passwd', 403],
      ['/images/../../outside/secret.txt', 403],
      ['/%2e%2e/%2e%2e/etc/passwd', 403],
      ['/%2E%2E/outside/secret.txt', 403],
      ['/images%2fvmlinuz', 403],
      ['/images/..%2f..%2fetc/passwd', 403],
      ['/..%5c..%5cetc/passwd', 403],
      ['//etc/passwd', 403],
      ['/./small.bin', 403],
      ['/small.bin%00.txt', 403],
      ['/escape', 403],
      ['/escape-dir/secret.txt', 403],
      ['/%zz', 400],
      ['/images/', 404],
      ['/images', 404],
      ['/', 404],
      ['/fifo', 404],
      ['/missing.bin', 404],
      ['/%252e%252e/etc/passwd', 404],
    ];
    for (const [path, status] of attempts) {
      const result = await curl(['--path-as-is', `${base}${path}`]);
      expect(result.status, path).toBe(status);
      expect(result.body.toString(), path).not.toContain('secret');
      expect(result.body.length, path).toBeLessThan(64);
    }
    const refusedLines = logLines.filter((line) => line.includes('refused boot file request')).slice(refusedBefore);
    expect(refusedLines.length).toBe(attempts.filter(([, status]) => status === 403).length);
    expect(JSON.parse(refusedLines[0])).toMatchObject({ level: 'warn', remote: '127.0.0.1', path: '/../../../../etc/passwd', reason: 'dot segment' });
    expect(JSON.parse(refusedLines.find((line) => line.includes('"/escape"'))!)).toMatchObject({ reason: 'resolves outside the boot root (symlink)' });

    // A symlink that stays inside the root is fine, and the server is still serving.
    const inside = await curl([`${base}/link-inside`]);
    expect(inside.status).toBe(200);
    expect(inside.body.equals(small)).toBe(true);
    // Absolute-form request target (RFC 9112 3.2.2).
    const absolute = await curl(['--request-target', `http://127.0.0.1/small.bin`, `${base}/`]);
    expect(absolute.status).toBe(200);
    expect(counters.get('http.errors.403')).toBeGreaterThanOrEqual(12);
  });

  it('answers 405 with Allow for methods other than GET and HEAD', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const result = await curl(['-X', method, ...(method === 'POST' ? ['-d', 'x'] : []), `${base}/small.bin`]);
      expect(result.status, method).toBe(405);
      expect(result.headers['allow']).toBe('GET, HEAD');
    }
    expect((await curl(['-X', 'POST', `${base}/boot.ipxe`])).headers['allow']).toBe('GET, HEAD');
  });

  it("GET /boot.ipxe: the node's script, by MAC or by client address", async () => {
    const byMac = await curl([`${base}/boot.ipxe?mac=52:54:00:00:00:01`]);
    expect(byMac.status).toBe(200);
    expect(byMac.headers['cache-control']).toBe('no-store');
    const expected = ipxeScriptFor(profiles.compute, { profiles, node: inventory[0], serverBase: SERVER_BASE, profileName: 'compute' });
    expect(byMac.body.toString()).toBe(expected);
    expect(expected).toContain('hostname=node01');

    // Upper-case, hyphenated MACs (${net0/mac:hexhyp}) resolve too.
    expect((await curl([`${base}/boot.ipxe?mac=52-54-00-00-00-01`])).body.toString()).toBe(expected);

    // No usable mac: looked up by the client's address (127.0.0.1 is "loopy", profile disk).
    for (const url of [`${base}/boot.ipxe`, `${base}/boot.ipxe?mac=%24%7Bnet0/mac%7D`]) {
      const byIp = await curl([url]);
      expect(byIp.body.toString()).toBe(ipxeScriptFor(profiles.disk, { profiles, node: inventory[1], serverBase: SERVER_BASE, profileName: 'disk' }));
    }

    // A menu's choice wins; the retry loop asks for it again.
    const chosen = await curl([`${base}/boot.ipxe?profile=rescue&mac=52:54:00:00:00:01&platform=efi`]);
    expect(chosen.body.toString()).toContain('\nchain http://10.0.0.1:8080/rescue.ipxe || goto failed\n');
    expect(chosen.body.toString()).toContain('boot.ipxe?profile=rescue&mac=${netX/mac} || goto failed\n');

    // Unknown node: the default profile.
    const stranger = await curl([`${base}/boot.ipxe?mac=52:54:00:99:99:99`]);
    expect(stranger.body.toString()).toContain('# rackboot: profile compute, unknown node (52:54:00:99:99:99, 127.0.0.1)\n');

    expect((await curl([`${base}/boot.ipxe?profile=nope`])).status).toBe(404);
    expect(events.filter((e) => e.type === 'ipxe-script' && e.status === 200).length).toBeGreaterThanOrEqual(6);
    expect(events.find((e) => e.type === 'ipxe-script' && e.name === 'node01')).toMatchObject({
      mac: '52:54:00:00:00:01',
      profile: 'compute',
      remote: '127.0.0.1',
    });
  });

  it('keeps connections alive between requests', async () => {
    const { stdout } = await execFileP('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      '-o',
      '/dev/null',
      '-w',
      '%{num_connects}\n',
      `${base}/boot.ipxe`,
      `${base}/images/vmlinuz`,
      `${base}/images/initrd.img`,
    ]);
    expect(stdout.trim().split('\n')).toEqual(['1', '0', '0']);
  });

  it('destroys the stream when a client goes away mid-download', async () => {
    const abortedBefore = counters.get('http.aborted');
    const socket = connect(boot.address().port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    let received = 0;
    await new Promise<void>((resolve) => {
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > 1024 * 1024) {
          socket.destroy();
          resolve();
        }
      });
    });
    await expect.poll(() => counters.get('http.aborted'), { timeout: 5000 }).toBe(abortedBefore + 1);
    const event = downloads('/big.bin').at(-1)!;
    expect(event.complete).toBe(false);
    expect(event.bytes).toBeLessThan(BIG_SIZE);
  });

  it('a file rewritten in place is served anew, never from the bytes kept in memory', async () => {
    const hot = await createHttpServerFor({ hotFiles: { maxFileBytes: 1024 * 1024, maxTotalBytes: 4 * 1024 * 1024 } });
    const base = `http://127.0.0.1:${hot.address().port}`;
    try {
      const path = join(root, 'rewritten.bin');
      const v1 = randomBytes(50_000);
      await writeFile(path, v1);
      const first = await curl([`${base}/rewritten.bin`]);
      expect(first.body.equals(v1)).toBe(true);
      expect((await curl([`${base}/rewritten.bin`])).body.equals(v1)).toBe(true);
      const v2 = randomBytes(50_000);
      await writeFile(path, v2);
      const second = await curl([`${base}/rewritten.bin`]);
      expect(second.body.equals(v2)).toBe(true);
      expect(second.headers['etag']).not.toBe(first.headers['etag']);
      // A range of the kept bytes is the same slice of the file.
      const range = await curl(['-r', '1000-1999', `${base}/rewritten.bin`]);
      expect(range.status).toBe(206);
      expect(range.body.equals(v2.subarray(1000, 2000))).toBe(true);
    } finally {
      await hot.close();
    }
  });

  it('with a memory budget, files past it are streamed from the file, byte for byte, ranges too', async () => {
    const streamed = await createHttpServerFor({ hotFiles: { maxFileBytes: 1024 * 1024, maxTotalBytes: 4 * 1024 * 1024 } });
    try {
      // small.bin fits: from memory, byte for byte.
      expect((await curl([`http://127.0.0.1:${streamed.address().port}/small.bin`])).body.equals(small)).toBe(true);
      const url = `http://127.0.0.1:${streamed.address().port}/big.bin`;
      const { stdout } = await execFileP('sh', ['-c', 'curl -sS --fail "$1" | sha256sum', 'sh', url], { encoding: 'utf8' });
      expect(stdout.split(' ')[0]).toBe(bigSha);
      const tail = await curl(['-r', '-100000', url]);
      expect(tail.status).toBe(206);
      expect(tail.body.length).toBe(100_000);
      const whole = await readFile(join(root, 'big.bin'));
      expect(tail.body.equals(whole.subarray(BIG_SIZE - 100_000))).toBe(true);
      expect(downloads('/big.bin').at(-1)).toMatchObject({ status: 206, bytes: 100_000, complete: true });
    } finally {
      await streamed.close();
    }
  });

  it('closes connections that send their request too slowly', async () => {
    const slow = await startServer({ headersTimeoutMs: 500, requestTimeoutMs: 1000, checkIntervalMs: 100 });
    try {
      const socket = connect(slow.address().port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /small.bin HTTP/1.1\r\nHost: x\r\n');
      const started = Date.now();
      let reply = '';
      socket.on('data', (chunk: Buffer) => (reply += chunk.toString()));
      await once(socket, 'close');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(reply).toMatch(/^HTTP\/1\.1 408/);

      // A connection that never sends a byte is closed the same way.
      const silent = connect(slow.address().port, '127.0.0.1');
      silent.resume(); // read (and drop) the 408, or the FIN is never seen
      await once(silent, 'connect');
      const silentStarted = Date.now();
      await once(silent, 'close');
      expect(Date.now() - silentStarted).toBeLessThan(3000);
    } finally {
      await slow.close();
    }
  });

  it('answers 503 past maxConnections instead of collapsing', async () => {
    const limited = await startServer({ maxConnections: 2 });
    const port = limited.address().port;
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = connect(port, '127.0.0.1');
        await once(socket, 'connect');
        held.push(socket);
      }
      await expect.poll(() => limited.activeConnections()).toBe(2);
      const busy = await curl([`http://127.0.0.1:${port}/small.bin`]);
      expect(busy.status).toBe(503);
      expect(busy.headers['retry-after']).toBe('2');
      expect(busy.headers['connection']).toBe('close');
      for (const socket of held) socket.destroy();
      await expect.poll(() => limited.activeConnections()).toBe(0);
      expect((await curl([`http://127.0.0.1:${port}/small.bin`])).status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
      await limited.close();
    }
  });

  it(`serves ${LOAD_CLIENTS} concurrent ${BIG_SIZE / 1024 / 1024} MB downloads with bounded memory`, async () => {
    const url = `${base}/big.bin`;
    const earlier = downloads('/big.bin').length;
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const started = Date.now();
    const results = await Promise.all(
      Array.from(
        { length: LOAD_CLIENTS },
        () =>
          new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
            // sha256sum in its own process: the bytes never pass through this (the server's) process twice.
            const child = spawn('sh', ['-c', 'curl -sS --fail "$1" | sha256sum', 'sh', url], { stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
            child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
            child.on('error', reject);
            child.on('close', (code) => resolve({ code, out, err }));
          }),
      ),
    );
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);

    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
    console.log(
      `[load] ${LOAD_CLIENTS} x ${mb(BIG_SIZE)} MB in ${seconds.toFixed(1)} s ` +
        `(${((LOAD_CLIENTS * BIG_SIZE) / 1024 / 1024 / seconds).toFixed(0)} MB/s); ` +
        `RSS baseline ${mb(baseline)} MB, peak ${mb(peak)} MB (+${mb(peak - baseline)} MB)`,
    );
    const wrong = results.filter((r) => r.out.split(' ')[0] !== bigSha);
    expect(wrong.map((r) => r.err || r.out).slice(0, 3)).toEqual([]);
    // curl can have every byte before the server's event loop has run the last response's
    // completion: give the events a moment to catch up with the clients.
    const completed = () =>
      downloads('/big.bin')
        .slice(earlier)
        .filter((e) => e.complete && e.status === 200).length;
    for (const deadline = Date.now() + 5000; completed() < LOAD_CLIENTS && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    expect(completed()).toBe(LOAD_CLIENTS);
    // Streaming keeps memory per download to a read buffer or two; buffering whole
    // files would need 6 GB. Generous bound: well under 1 MB per client.
    expect(peak - baseline).toBeLessThan(LOAD_CLIENTS * 1024 * 1024);
    // Typically 15-30 s on two cores (curl and sha256sum share them with the server);
    // the limit is generous so a busy machine does not fail a test that is not about time.
  }, 180_000);
});
