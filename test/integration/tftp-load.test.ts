// Load: 200 concurrent atftp transfers (blksize 1428, windowsize 8) of one
// 30 MB random file against the real bundle with the default 128 transfer
// slots: the 72 requests beyond them wait 2 s, inside atftp's RRQ retry
// window, and are then served from overflow slots (a slot freeing up takes
// ~30 s on 2 cores, longer than any client waits). Every client must exit 0 with
// the right sha256. Prints the wall time, per-client times and the server's peak
// RSS (VmHWM).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeRandomFiles } from '../helpers/checksum.js';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.83.0.1';
const MB = 1024 * 1024;
const FILE_SIZE = 30 * MB;
const CLIENTS = 200;
const NAMESPACES = 2;
const MAX_TRANSFERS = Number(process.env.RACKBOOT_LOAD_MAX_TRANSFERS ?? 128);
/** Above the 400 default: the veth pair is far faster, and 6 GB at 400 Mbit/s alone would take 2 minutes. */
const MAX_RATE_MBIT = Number(process.env.RACKBOOT_LOAD_RATE_MBIT ?? 2000);

/** Runs `count` atftp clients at once; one result line per client: "index rc sha256 seconds". */
const CLIENT_SCRIPT = `#!/bin/bash
server=$1; first=$2; count=$3; dir=$4
run() {
  local i=$1 f="$dir/$1.bin" start end rc sum
  start=$(date +%s.%N)
  atftp --option "blksize 1428" --option "windowsize 8" -g -r big.bin -l "$f" "$server" >"$dir/$i.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  sum=$(sha256sum "$f" 2>/dev/null | cut -c1-64)
  rm -f "$f"
  echo "$i $rc \${sum:-none} $(echo "$end - $start" | bc)"
}
for ((i = first; i < first + count; i++)); do run "$i" & done
wait
`;

describe('TFTP under load', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  const clients: Netns[] = [];
  let sum: string;
  let scriptPath: string;
  let outDir: string;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      prepare: async ({ dir, root }) => {
        sum = (await writeRandomFiles(root, { 'big.bin': FILE_SIZE })).get('big.bin')!;
        scriptPath = join(dir, 'clients.sh');
        await writeFile(scriptPath, CLIENT_SCRIPT, { mode: 0o755 });
        // Client output goes to tmpfs and is deleted as soon as it is hashed.
        outDir = join('/dev/shm', `rackboot-load-${process.pid}`);
        await mkdir(outDir, { recursive: true });
      },
      yaml: ({ root }) => `
interface: eth0
mode: proxy
boot:
  root: ${root}
tftp:
  max_transfers: ${MAX_TRANSFERS}
  # 100 clients share each namespace's address: above the per-address default (half of max_transfers).
  max_transfers_per_client: ${CLIENTS}
  max_rate_mbit: ${MAX_RATE_MBIT}
  transfer_rate_mbit: 100
`,
    }));
    for (let n = 0; n < NAMESPACES; n++) clients.push(await lab.client(undefined, `10.83.0.${10 + n}/24`));
  }, 120_000);

  afterAll(async () => {
    await stopRackboot({ lab, server });
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it(`${CLIENTS} concurrent atftp transfers of 30 MB all complete with the right bytes`, async () => {
    const pid = server.child.pid!;
    const perNs = CLIENTS / NAMESPACES;
    const started = Date.now();
    const outputs = await Promise.all(
      clients.map((ns, n) => ns.exec(['bash', scriptPath, SERVER, String(n * perNs), String(perNs), outDir], { timeoutMs: 170_000 })),
    );
    const seconds = (Date.now() - started) / 1000;
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    const results = outputs
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [index, rc, hash, secs] = line.split(' ');
        return { index: Number(index), rc: Number(rc), hash: hash, secs: Number(secs) };
      });
    const times = results.map((r) => r.secs).sort((a, b) => a - b);
    const failed = results.filter((r) => r.rc !== 0 || r.hash !== sum);
    const failedLogs = await Promise.all(
      failed
        .slice(0, 5)
        .map(async (r) => `#${r.index} rc=${r.rc}: ${(await readFile(join(outDir, `${r.index}.log`), 'utf8').catch(() => '')).trim().slice(0, 300)}`),
    );
    console.log(
      [
        `${CLIENTS} clients x 30 MB in ${seconds.toFixed(1)} s (${((CLIENTS * FILE_SIZE * 8) / seconds / 1e6).toFixed(0)} Mbit/s aggregate, max_rate_mbit ${MAX_RATE_MBIT})`,
        `client times: min ${times[0]?.toFixed(1)} s, median ${times[Math.floor(times.length / 2)]?.toFixed(1)} s, max ${times.at(-1)?.toFixed(1)} s`,
        `server peak RSS (VmHWM): ${hwm ? (Number(hwm) / 1024).toFixed(0) : '?'} MB`,
        `failed: ${failed.length}${failedLogs.length ? `\n${failedLogs.join('\n')}` : ''}`,
      ].join('\n'),
    );
    const code = await server.stop();
    const stopped = await server.waitFor((l) => l.msg === 'stopped');
    const counters = stopped.counters as Record<string, number>;
    console.log('server counters:', JSON.stringify(Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith('tftp.')))));
    expect(code).toBe(0);
    expect(results).toHaveLength(CLIENTS);
    expect(failed.map((r) => `#${r.index} rc=${r.rc} ${r.hash === sum ? 'sha ok' : 'sha wrong'} after ${r.secs}s`)).toEqual([]);
    expect(counters['tftp.done']).toBe(CLIENTS);
    expect(Object.keys(counters).filter((k) => k.startsWith('tftp.failed.'))).toEqual([]);
  }, 180_000);
});
