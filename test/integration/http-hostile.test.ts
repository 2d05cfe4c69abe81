// Hostile HTTP clients against the real bundle in network namespaces (issue 11):
// path traversal in every spelling curl can send (--path-as-is), a boot root
// with a sibling directory that shares its prefix (/srv/boot vs
// /srv/boot-private), symlinks out of the root; then slowloris from two
// addresses (headers a byte at a time, and silent connections) while a valid
// client downloads a kernel, and finally more held connections than the server
// serves at once. The server's counters are read from its 'stopped' line.
//
// Limits in the config are small so the test is short: header_timeout 2 s,
// 8 connections per address, 20 at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.84.0.1';
const PER_ADDRESS = 8;
const MAX_CONNECTIONS = 20;
const HEADER_TIMEOUT_S = 2;
const SECRET = 'sibling-secret-7f3a';
const KERNEL_SIZE = 8 * 1024 * 1024;

// Holds `count` connections to the server for `seconds`, reconnecting whenever
// one is closed: 'trickle' sends a request head one byte every 200 ms and never
// finishes it, 'idle' sends nothing. Prints one JSON summary line.
const ATTACKER = `
import { connect } from 'node:net';
const { host, count, seconds, mode } = JSON.parse(process.argv[2]);
const until = Date.now() + seconds * 1000;
const s = { connects: 0, dropped: 0, got408: 0, closedByServer: 0, maxLifeMs: 0 };
const head = 'GET /small.bin HTTP/1.1\\r\\nHost: ' + host + '\\r\\nX-Slow: ' + 'a'.repeat(10000);
function open() {
  if (Date.now() >= until) return;
  const started = Date.now();
  let reply = '';
  let connected = false;
  let timer;
  const socket = connect(80, host);
  s.connects++;
  socket.on('connect', () => {
    connected = true;
    if (mode !== 'trickle') return;
    let i = 0;
    timer = setInterval(() => socket.write(head[i++ % head.length]), 200);
  });
  socket.on('data', (d) => (reply += d.toString('latin1')));
  socket.on('error', () => {});
  socket.on('close', () => {
    clearInterval(timer);
    const life = Date.now() - started;
    if (Date.now() < until) {
      // Closed by the server before the attack ended.
      s.closedByServer++;
      s.maxLifeMs = Math.max(s.maxLifeMs, life);
      if (reply.startsWith('HTTP/1.1 408')) s.got408++;
      else if (reply === '') s.dropped++;
    }
    setTimeout(open, 50);
  });
  setTimeout(() => socket.destroy(), Math.max(0, until - Date.now()));
}
for (let i = 0; i < count; i++) open();
setTimeout(() => { process.stdout.write(JSON.stringify(s) + '\\n'); process.exit(0); }, seconds * 1000 + 300);
`;

interface AttackSummary {
  connects: number;
  dropped: number;
  got408: number;
  closedByServer: number;
  maxLifeMs: number;
}

describe('HTTP under hostile clients (real bundle, namespaces)', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  const clients: Netns[] = [];
  let srv: string;
  let root: string;
  let attackerPath: string;
  let kernelSha: string;
  let small: Buffer;

  beforeAll(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    srv = join(lab.dir, 'srv');
    root = join(srv, 'boot');
    await mkdir(join(root, 'sub'), { recursive: true });
    await mkdir(join(srv, 'boot-private'));
    await writeFile(join(srv, 'boot-private', 'secret.txt'), `${SECRET}\n`);
    await writeFile(join(lab.dir, 'outside.txt'), `${SECRET}\n`);
    small = randomBytes(5000);
    await writeFile(join(root, 'small.bin'), small);
    await writeFile(join(root, 'sub', 'file.bin'), small);
    const kernel = randomBytes(KERNEL_SIZE);
    kernelSha = createHash('sha256').update(kernel).digest('hex');
    await writeFile(join(root, 'vmlinuz'), kernel);
    // Symlinks: inside (fine), absolute out, relative into the prefix-sharing sibling, a directory out.
    await symlink('small.bin', join(root, 'link-inside'));
    await symlink(join(lab.dir, 'outside.txt'), join(root, 'escape-absolute'));
    await symlink('../boot-private/secret.txt', join(root, 'escape-sibling'));
    await symlink('../boot-private', join(root, 'sibling-dir'));
    await symlink('../../boot-private/secret.txt', join(root, 'sub', 'escape-nested'));
    attackerPath = join(lab.dir, 'attacker.mjs');
    await writeFile(attackerPath, ATTACKER);
    const config = await lab.writeConfig(`
interface: eth0
mode: proxy
boot:
  root: ${root}
http:
  max_connections: ${MAX_CONNECTIONS}
  max_connections_per_address: ${PER_ADDRESS}
  header_timeout: ${HEADER_TIMEOUT_S}s
`);
    server = await lab.startServer(['--config', config]);
    for (let i = 0; i < 4; i++) clients.push(await lab.client(undefined, `10.84.0.${10 + i}/24`));
  }, 120_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  async function curl(ns: Netns, args: string[]): Promise<{ status: number; body: string }> {
    const out = await ns.exec(['curl', '-s', '--max-time', '20', '-o', '-', '-w', '\\n%{http_code}', ...args]);
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
  }

  function attack(ns: Netns, spec: { count: number; seconds: number; mode: 'trickle' | 'idle' }): Promise<AttackSummary> {
    return ns
      .exec([process.execPath, attackerPath, JSON.stringify({ host: SERVER, ...spec })], { timeoutMs: (spec.seconds + 30) * 1000 })
      .then((out) => JSON.parse(out) as AttackSummary);
  }

  it('refuses traversal in every spelling, and serves what is inside the root', async () => {
    const client = clients[0];
    const cases: [string, number][] = [
      ['/../boot-private/secret.txt', 403],
      ['/../../../../etc/passwd', 403],
      ['/sub/../../boot-private/secret.txt', 403],
      ['/%2e%2e/boot-private/secret.txt', 403],
      ['/%2E%2E/boot-private/secret.txt', 403],
      ['/.%2e/boot-private/secret.txt', 403],
      ['/%2e%2e%2fboot-private%2fsecret.txt', 403],
      ['/..%2fboot-private/secret.txt', 403],
      ['/..%5cboot-private%5csecret.txt', 403],
      ['/..\\boot-private\\secret.txt', 403],
      ['/sub\\..\\..\\boot-private\\secret.txt', 403],
      ['//etc/passwd', 403],
      ['/small.bin%00', 403],
      ['/small.bin%00.txt', 403],
      ['/%0a/small.bin', 403],
      ['/escape-absolute', 403],
      ['/escape-sibling', 403],
      ['/sibling-dir/secret.txt', 403],
      ['/sub/escape-nested', 403],
      // Double encoding is decoded once: the literal name "%2e%2e" does not exist.
      ['/%252e%252e/boot-private/secret.txt', 404],
      ['/%252e%252e%252fboot-private%252fsecret.txt', 404],
      // Overlong UTF-8 for '.', and broken escapes: not a valid encoding at all.
      ['/%c0%ae%c0%ae/boot-private/secret.txt', 400],
      ['/%zz', 400],
      ['/%', 400],
      // An absolute file system path is a path under the root, not from /.
      ['/etc/passwd', 404],
      [`/${srv.slice(1)}/boot-private/secret.txt`, 404],
    ];
    for (const [path, status] of cases) {
      const result = await curl(client, ['--path-as-is', `http://${SERVER}${path}`]);
      expect(result.status, path).toBe(status);
      expect(result.body, path).not.toContain(SECRET);
    }
    // Request targets that are not origin-form paths at all (RFC 9112 3.2).
    for (const target of ['etc/passwd', '../boot-private/secret.txt', `http://${SERVER}/../boot-private/secret.txt`]) {
      const result = await curl(client, ['--request-target', target, `http://${SERVER}/`]);
      expect(result.status, target).toBeGreaterThanOrEqual(400);
      expect(result.body, target).not.toContain(SECRET);
    }

    // Valid requests are unaffected.
    for (const path of ['/small.bin', '/sub/file.bin', '/link-inside', '/sub/%66ile.bin']) {
      const out = await client.exec(['sh', '-c', `curl -s --fail "http://${SERVER}${path}" | sha256sum`]);
      expect(out.split(' ')[0], path).toBe(createHash('sha256').update(small).digest('hex'));
    }
  });

  it('bounds slowloris from two addresses while a valid client downloads its kernel', async () => {
    const [a, b, valid] = clients as [Netns, Netns, Netns];
    const seconds = 3 * HEADER_TIMEOUT_S + 6;
    const attacks = Promise.all([attack(a, { count: 30, seconds, mode: 'trickle' }), attack(b, { count: 30, seconds, mode: 'idle' })]);
    // Let the attackers take their slots first.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const download = await valid.exec(
      [
        'sh',
        '-c',
        `curl -s --fail --max-time 60 "http://${SERVER}/vmlinuz" | sha256sum; curl -s --fail -o /dev/null -w '%{http_code}' "http://${SERVER}/small.bin"`,
      ],
      { timeoutMs: 90_000 },
    );
    const [sumLine, smallStatus] = download.trim().split('\n');
    expect(sumLine.split(' ')[0]).toBe(kernelSha);
    expect(smallStatus).toBe('200');
    const [trickle, idle] = await attacks;
    console.log('slowloris:', JSON.stringify({ trickle, idle }));
    for (const summary of [trickle, idle]) {
      // Past the per-address cap, connections are dropped before a byte is answered...
      expect(summary.dropped).toBeGreaterThan(0);
      // ...and the ones held get 408 once their head is overdue, trickling or silent.
      expect(summary.got408).toBeGreaterThan(0);
      // Far below the attack's length: no held connection outlives the head timeout by much.
      expect(summary.maxLifeMs).toBeLessThan(seconds * 1000 - 2000);
    }
  }, 120_000);

  it('more held connections than max_connections: the excess is refused, and the server serves afterwards', async () => {
    const [a, b, c, d] = clients as [Netns, Netns, Netns, Netns];
    await Promise.all([a, b, c].map((ns) => attack(ns, { count: PER_ADDRESS, seconds: HEADER_TIMEOUT_S + 1, mode: 'idle' })));
    const after = await curl(d, [`http://${SERVER}/small.bin`]);
    expect(after.status).toBe(200);
  }, 60_000);

  it('counted every refusal, in the log and in /metrics', async () => {
    const metrics = (await curl(clients[3], [`http://${SERVER}/metrics`])).body;
    expect(metrics).toMatch(/^rackboot_dropped_total\{protocol="http",reason="address_limit"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^rackboot_http_request_timeouts_total [1-9]\d*$/m);
    expect(await server.stop()).toBe(0);
    const stopped = await server.waitFor((l) => l.msg === 'stopped');
    const counters = stopped.counters as Record<string, number>;
    const http = Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith('http.')));
    console.log('server counters:', JSON.stringify(http));
    // 19 of the traversal cases are 403 and counted as refused.
    expect(http['http.refused']).toBeGreaterThanOrEqual(19);
    expect(http['http.address_limited']).toBeGreaterThan(0);
    expect(http['http.request_timeouts']).toBeGreaterThan(0);
    // Three addresses x 8 idle connections against 20 served at once.
    expect(http['http.busy']).toBeGreaterThan(0);
    expect(http['http.aborted'] ?? 0).toBe(0);
    // The server logged the refusals at a bounded rate, not once per connection.
    const limitedLines = server.lines.filter((l) => l.msg === 'too many connections from one address, dropping');
    expect(limitedLines.length).toBeGreaterThan(0);
    expect(limitedLines.length).toBeLessThan(http['http.address_limited']);
  });
});
