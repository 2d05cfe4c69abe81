// Issue 11's TFTP flood: 10,000 RRQs per second from one address, each from a
// new source port (so each is a new request, not a repeat), for a bounded count.
// The server holds at most max_transfers_per_client (default: half of
// max_transfers) requests from that address and drops the rest, counted as
// tftp.dropped.client_limit (rackboot_dropped_total{protocol="tftp",
// reason="client_limit"} in /metrics); its RSS stays bounded; and a valid
// client at another address gets its file with the right bytes during the flood.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File, writeRandomFiles } from '../helpers/checksum.js';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.85.0.1';
const FLOOD_COUNT = 30_000;
const FLOOD_PER_SECOND = 10_000;
const MAX_TRANSFERS = 128;
const PER_CLIENT = MAX_TRANSFERS / 2; // the default

/**
 * The flooder: RRQs for an existing file from a pool of sockets (one new port per
 * RRQ until the pool wraps), paced in 10 ms ticks, stopping after `count` or 60 s.
 * Prints "sent seconds".
 */
const FLOODER = `
const dgram = require('node:dgram');
const [server, count, perSecond] = process.argv.slice(1);
const rrq = Buffer.from('\\x00\\x01boot.bin\\x00octet\\x00blksize\\x001428\\x00', 'latin1');
const sockets = Array.from({ length: 2000 }, () => dgram.createSocket('udp4'));
let sent = 0;
const started = Date.now();
const perTick = Number(perSecond) / 100;
const tick = setInterval(() => {
  const due = Math.min(Number(count), Math.ceil(((Date.now() - started) / 1000) * Number(perSecond)));
  for (let n = 0; sent < due && n < perTick * 5; n++) sockets[sent++ % sockets.length].send(rrq, 69, server);
  if (sent >= Number(count) || Date.now() - started > 60000) {
    clearInterval(tick);
    setTimeout(() => {
      console.log(sent + ' ' + ((Date.now() - started) / 1000).toFixed(2));
      process.exit(0);
    }, 200);
  }
}, 10);
`;

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
}

describe('TFTP: an RRQ flood from one address', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let flooder: Netns;
  let client: Netns;
  let sum: string;
  let out: string;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      prepare: async ({ dir, root }) => {
        sum = (await writeRandomFiles(root, { 'boot.bin': 4 * 1024 * 1024 + 321 })).get('boot.bin')!;
        out = join(dir, 'out');
        await mkdir(out);
      },
      yaml: ({ root }) => `
interface: eth0
mode: proxy
boot:
  root: ${root}
tftp:
  max_transfers: ${MAX_TRANSFERS}
`,
    }));
    flooder = await lab.client(undefined, '10.85.0.66/24');
    client = await lab.client(undefined, '10.85.0.2/24');
  }, 120_000);

  afterAll(async () => {
    await stopRackboot({ lab, server });
  });

  it('holds at most the per-client limit from the flooder, drops and counts the rest; a valid client is served; RSS stays bounded', async () => {
    const pid = server.child.pid!;
    // Warm up: the file is cached and the transfer code compiled before the baseline.
    await client.exec(['atftp', '--option', 'blksize 1428', '-g', '-r', 'boot.bin', '-l', join(out, 'warm'), SERVER], { timeoutMs: 60_000 });
    const baseline = await rssKb(pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      void rssKb(pid).then(
        (kb) => (peak = Math.max(peak, kb)),
        () => undefined,
      );
    }, 100);
    try {
      const flood = flooder.exec([process.execPath, '-e', FLOODER, SERVER, String(FLOOD_COUNT), String(FLOOD_PER_SECOND)], { timeoutMs: 90_000 });
      await new Promise((r) => setTimeout(r, 1000)); // the flood is well under way
      const dest = join(out, 'valid');
      await client.exec(['atftp', '--option', 'blksize 1428', '-g', '-r', 'boot.bin', '-l', dest, SERVER], { timeoutMs: 60_000 });
      const got = await sha256File(dest);
      const [sent, seconds] = (await flood).trim().split(' ').map(Number);
      await new Promise((r) => setTimeout(r, 500));
      const after = await rssKb(pid);
      peak = Math.max(peak, after);
      console.log(
        `flood: ${sent} RRQs in ${seconds} s (${Math.round(sent / seconds)}/s); server RSS ${Math.round(baseline / 1024)} MB before, peak ${Math.round(peak / 1024)} MB`,
      );
      expect(got).toBe(sum);
      expect(sent).toBe(FLOOD_COUNT);
    } finally {
      clearInterval(sampler);
    }
    // Bounded: 64 transfers of a cached file are small; 30,000 would not be.
    expect(peak - baseline).toBeLessThan(100 * 1024);

    const code = await server.stop();
    const stopped = await server.waitFor((l) => l.msg === 'stopped');
    const counters = stopped.counters as Record<string, number>;
    console.log('server counters:', JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith('tftp.')))));
    expect(code).toBe(0);
    // The flooder never ACKs, so none of its transfers ends during the flood: it held at
    // most PER_CLIENT requests (plus the valid client's two), and the rest were dropped.
    expect(counters['tftp.requests']).toBeGreaterThanOrEqual(PER_CLIENT);
    expect(counters['tftp.requests']).toBeLessThanOrEqual(PER_CLIENT + 2);
    expect(counters['tftp.dropped.client_limit']).toBeGreaterThanOrEqual(FLOOD_COUNT - PER_CLIENT - 2000);
    expect(counters['tftp.done']).toBe(2);
    await rm(out, { recursive: true, force: true });
  }, 150_000);
});
