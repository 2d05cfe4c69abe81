// Issue 3's loss must-show: every client (tftp-hpa, atftp with blksize, atftp
// with blksize and windowsize, curl) gets files of 0 bytes, exactly one block,
// 65,536+ blocks (block-number rollover) and 50 MB with 2 % and with 10 %
// random loss in both directions (nftables `numgen random` drops in the
// bridge's forward chain), sha256 compared. Each client runs in its own
// namespace with its own loss rate, all at once, so the matrix costs its
// slowest chain rather than the sum.
//
// Rollover: tftp-hpa 5.2 sends no options, so it rolls over for real at 512-byte
// blocks (65,536 * 512 + 1000 bytes: what firmware sees with a 32 MB image);
// atftp and curl ask for blksize 8 (RFC 2348 allows 8..65464), which reaches
// block 65,536 with half a megabyte.
//
// Every lost DATA or ACK costs the server one retransmission timeout (the RTT
// estimate, floor 5 ms), so the time grows with the number of round trips: at
// 10 % about one in five fails. The 10 % lock-step rows with 65,536+ round
// trips (the rollovers of tftp-hpa, atftp and curl, and 50 MB at 512 or 1024
// bytes a block) take 1.5-2.5 minutes each, too long for `make test`;
// RACKBOOT_TFTP_LOSS_FULL=1 runs them too (README, "Testing", has the measured
// times). Windowed atftp's rollover at 10 % (8,192 windows) stays in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File, writeRandomFiles } from '../helpers/checksum.js';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.84.0.1';
const MB = 1024 * 1024;
const FULL = process.env.RACKBOOT_TFTP_LOSS_FULL === '1';

const FILES: Record<string, number> = {
  'empty.bin': 0,
  'one-512.bin': 512,
  'one-1428.bin': 1428,
  'one-1024.bin': 1024,
  'rollover-512.bin': 65_536 * 512 + 1000,
  'rollover-8.bin': 65_536 * 8 + 100,
  'large.bin': 50 * MB,
};

interface Client {
  name: string;
  /** argv for one download of `file` to `dest`; `small` asks for blksize 8 (the rollover file). */
  argv(file: string, dest: string, small: boolean): string[];
  files: string[];
  /** Rows that take minutes at 10 % (see the header): only with RACKBOOT_TFTP_LOSS_FULL=1. */
  slowAt10: string[];
}

const atftp = (extra: string[]) => (file: string, dest: string, small: boolean) => [
  'atftp',
  '--option',
  `blksize ${small ? 8 : 1428}`,
  ...extra,
  '-g',
  '-r',
  file,
  '-l',
  dest,
  SERVER,
];

const CLIENTS: Client[] = [
  {
    name: 'tftp-hpa',
    argv: (file, dest) => ['tftp', '-m', 'binary', SERVER, '-c', 'get', file, dest],
    files: ['empty.bin', 'one-512.bin', 'rollover-512.bin', 'large.bin'],
    slowAt10: ['rollover-512.bin', 'large.bin'],
  },
  { name: 'atftp-blksize', argv: atftp([]), files: ['empty.bin', 'one-1428.bin', 'rollover-8.bin', 'large.bin'], slowAt10: ['rollover-8.bin'] },
  { name: 'atftp-window', argv: atftp(['--option', 'windowsize 8']), files: ['empty.bin', 'one-1428.bin', 'rollover-8.bin', 'large.bin'], slowAt10: [] },
  {
    name: 'curl',
    // curl 7.88 fails every 0-byte TFTP download ("getpeername() failed with errno 107"),
    // against dnsmasq too: a client bug, so curl gets no empty file (see tftp-clients.test.ts).
    argv: (file, dest, small) => ['curl', '-sS', '--tftp-blksize', small ? '8' : '1024', '-o', dest, `tftp://${SERVER}/${file}`],
    files: ['one-1024.bin', 'rollover-8.bin', 'large.bin'],
    slowAt10: ['rollover-8.bin', 'large.bin'],
  },
];
const RATES = [20, 100]; // per mille

describe('TFTP under 2 % and 10 % random loss, every client', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let out: string;
  let sums: Map<string, string>;
  const lanes: { client: Client; permille: number; ns: Netns; ip: string }[] = [];

  beforeAll(async () => {
    out = join('/dev/shm', `rackboot-loss-${process.pid}`);
    await mkdir(out, { recursive: true });
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      prepare: async ({ root }) => {
        sums = await writeRandomFiles(root, FILES);
      },
      yaml: ({ root }) => `
interface: eth0
mode: proxy
boot:
  root: ${root}
tftp:
  max_rate_mbit: 2000
`,
    }));
    const sw = lab.segment.ns;
    await sw.exec(['nft', 'add', 'table', 'bridge', 'loss']);
    await sw.exec(['nft', 'add', 'chain', 'bridge', 'loss', 'drops', '{ type filter hook forward priority 0 ; }']);
    let host = 10;
    for (const permille of RATES) {
      for (const client of CLIENTS) {
        const ip = `10.84.0.${host++}`;
        const ns = await lab.client(undefined, `${ip}/24`);
        // Both directions: DATA to the client and its ACKs. RRQs are dropped too, as on a real lossy link.
        for (const dir of ['saddr', 'daddr']) {
          await sw.exec(['nft', 'add', 'rule', 'bridge', 'loss', 'drops', 'ip', dir, ip, 'numgen', 'random', 'mod', '1000', '<', String(permille), 'drop']);
        }
        lanes.push({ client, permille, ns, ip });
      }
    }
  }, 120_000);

  afterAll(async () => {
    await stopRackboot({ lab, server });
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('every transfer completes with the right bytes', async () => {
    const started = Date.now();
    const lines: string[] = [];
    const failures: string[] = [];
    await Promise.all(
      lanes.map(async ({ client, permille, ns }) => {
        for (const file of client.files) {
          if (!FULL && permille >= 100 && client.slowAt10.includes(file)) continue;
          const dest = join(out, `${client.name}-${permille}-${file}`);
          const t0 = Date.now();
          const label = `${client.name} ${permille / 10} % ${file}`;
          try {
            await ns.exec(client.argv(file, dest, file === 'rollover-8.bin'), { timeoutMs: 580_000 });
            const size = (await stat(dest)).size;
            const ok = size === FILES[file] && (await sha256File(dest)) === sums.get(file);
            if (!ok) failures.push(`${label}: ${size} bytes, sha256 ${size === FILES[file] ? 'differs' : 'not compared'}`);
          } catch (error) {
            failures.push(`${label}: ${(error as Error).message.slice(-600)}`);
          } finally {
            await rm(dest, { force: true });
          }
          lines.push(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        }
      }),
    );
    console.log(`loss matrix in ${((Date.now() - started) / 1000).toFixed(0)} s${FULL ? ' (full)' : ''}\n${lines.join('\n')}`);
    expect(failures).toEqual([]);
    const code = await server.stop();
    const stopped = await server.waitFor((l) => l.msg === 'stopped');
    const counters = stopped.counters as Record<string, number>;
    console.log('server counters:', JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith('tftp.')))));
    // A final ACK lost after the client has left ends that transfer as a server-side
    // timeout (RFC 1350 section 6): counted, but the client has its file; so no assertion on tftp.failed.*.
    expect(code).toBe(0);
  }, 600_000);
});
