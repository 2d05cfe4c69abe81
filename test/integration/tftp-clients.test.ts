// Real TFTP clients against the real bundle in network namespaces: tftp-hpa
// (RFC 1350 only: its 5.2 client sends no options), atftp (blksize,
// windowsize) and curl (blksize); edge sizes, block-number rollover, 50 MB.
// The same under 2 % and 10 % random loss: tftp-loss.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File, writeRandomFiles } from '../helpers/checksum.js';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.81.0.1';
const MB = 1024 * 1024;

/** name -> size. 65,536 blocks of 512 (tftp-hpa) and of 8 (curl --tftp-blksize 8) roll the block number over. */
const FILES: Record<string, number> = {
  'empty.bin': 0,
  'one-block.bin': 512,
  'small.bin': 3 * 1468 + 17,
  'rollover-512.bin': 65_536 * 512 + 1000,
  'rollover-8.bin': 65_536 * 8 + 100,
  'medium.bin': 4 * MB + 123,
  'large.bin': 50 * MB,
};

describe('TFTP with real clients', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let client: Netns;
  let out: string;
  let sums: Map<string, string>;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      prepare: async ({ dir, root }) => {
        out = join(dir, 'out');
        await mkdir(out);
        sums = await writeRandomFiles(root, FILES);
      },
      yaml: ({ root }) => `
interface: eth0
mode: proxy
boot:
  root: ${root}
`,
    }));
    client = await lab.client(undefined, '10.81.0.2/24');
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  type Fetcher = (name: string, dest: string) => string[];
  const clients: Record<string, Fetcher> = {
    'tftp-hpa': (name, dest) => ['tftp', '-m', 'binary', SERVER, '-c', 'get', name, dest],
    'atftp blksize 1428': (name, dest) => ['atftp', '--option', 'blksize 1428', '-g', '-r', name, '-l', dest, SERVER],
    'atftp blksize 1428 windowsize 8': (name, dest) => ['atftp', '--option', 'blksize 1428', '--option', 'windowsize 8', '-g', '-r', name, '-l', dest, SERVER],
    'curl blksize 1024': (name, dest) => ['curl', '-sS', '--tftp-blksize', '1024', '-o', dest, `tftp://${SERVER}/${name}`],
  };

  async function fetchAndCompare(clientName: string, name: string, timeoutMs = 120_000): Promise<void> {
    const dest = join(out, `${clientName.replace(/\W+/g, '_')}-${name}`);
    await client.exec(clients[clientName](name, dest), { timeoutMs });
    expect((await stat(dest)).size, `${clientName} ${name} size`).toBe(FILES[name]);
    expect(await sha256File(dest), `${clientName} ${name} sha256`).toBe(sums.get(name));
    await rm(dest);
  }

  /**
   * curl 7.88 (Debian 12) fails every 0-byte TFTP download with "(71) getpeername()
   * failed with errno 107" — against dnsmasq's TFTP server too: a client bug, so
   * curl is not asked for the empty file; tftp-hpa and atftp cover it.
   */
  const filesFor = (clientName: string, names: string[]) => (clientName.startsWith('curl') ? names.filter((n) => n !== 'empty.bin') : names);

  for (const clientName of Object.keys(clients)) {
    it(`${clientName}: 0 bytes, one block, a few blocks, 4 MB`, async () => {
      for (const name of filesFor(clientName, ['empty.bin', 'one-block.bin', 'small.bin', 'medium.bin'])) await fetchAndCompare(clientName, name);
    }, 120_000);
  }

  it('tftp-hpa: block number rollover past 65,535 (512-byte blocks)', async () => {
    await fetchAndCompare('tftp-hpa', 'rollover-512.bin', 180_000);
  }, 200_000);

  it('curl: block number rollover past 65,535 (8-byte blocks)', async () => {
    const dest = join(out, 'curl8');
    await client.exec(['curl', '-sS', '--tftp-blksize', '8', '-o', dest, `tftp://${SERVER}/rollover-8.bin`], { timeoutMs: 180_000 });
    expect(await sha256File(dest)).toBe(sums.get('rollover-8.bin'));
  }, 200_000);

  it('atftp with windowsize: 50 MB', async () => {
    await fetchAndCompare('atftp blksize 1428 windowsize 8', 'large.bin');
  }, 200_000);
});
