#!/usr/bin/env node
// One storm against rackboot on the bench link, for reproducing a single row of
// the benchmark: node bench/one-storm.mjs [RATE_KBIT|0] [TFTP_RATE_MBIT] [NODES] [LOSS_PERCENT] [KERNEL_KB] [INITRD_KB]
// (0 = unshaped; payload 128 KB + 128 KB by default). Prints the time to the last node booted,
// the setup time, the failed nodes' details and whether the server survived (its exit code or
// signal, and its last log lines).
import { build } from 'esbuild';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchLink } from './lib/link.mjs';
import { startRackboot } from './lib/servers.mjs';
import { storm } from './lib/measure.mjs';
import { raiseNeighbourTable } from './lib/neighbours.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const [rateKbit = 4000, tftpRateMbit = 4, nodes = 6, lossPercent = 0, kernelKb = 128, initrdKb = 128] = process.argv.slice(2).map(Number);
const dir = await mkdtemp(join(tmpdir(), 'rbstorm-one-'));
await chmod(dir, 0o755);
await mkdir(join(dir, 'root'));
for (const f of ['undionly.kpxe', 'snponly.efi']) await copyFile(join('/usr/lib/ipxe', f), join(dir, 'root', f));
await writeFile(join(dir, 'root', 'vmlinuz'), randomBytes(kernelKb * 1024));
await writeFile(join(dir, 'root', 'initrd.img'), randomBytes(initrdKb * 1024));
await build({
  stdin: {
    contents:
      "import { runStormCli } from './firmware/src/storm/cli.js';\nconst code = await runStormCli(process.argv.slice(2));\nprocess.stdout.write('', () => process.exit(code));\n",
    resolveDir: REPO,
    loader: 'ts',
  },
  outfile: join(dir, 'storm.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  logLevel: 'silent',
});
// Private copies: `make build` rewrites build/out/*.node in place, which kills a process that has them mapped.
await mkdir(join(dir, 'bundle'));
for (const name of await readdir(join(REPO, 'build/out'))) await copyFile(join(REPO, 'build/out', name), join(dir, 'bundle', name));
await copyFile(join(REPO, 'build/out/rackboot_packet.node'), join(dir, 'rackboot_packet.node'));
const link = await new BenchLink(`one${process.pid}`).create();
const restoreNeighbours = await raiseNeighbourTable(nodes);
const ctx = {
  dir,
  root: join(dir, 'root'),
  link,
  seq: 0,
  bundle: join(dir, 'bundle', 'rackboot.mjs'),
  plotsDir: dir,
  stormCommand: [process.execPath, join(dir, 'storm.mjs')],
};
try {
  await link.shape({ rateKbit: rateKbit || null, lossPercent });
  const server = await startRackboot(ctx, { tftpRateMbit });
  const started = Date.now();
  const report = await storm(ctx, { nodes, timeLimit: 300, label: 'one' });
  const s = report.summary;
  console.log(`booted ${s.booted}/${nodes}, last at ${s.timeToLastBootedMs} ms, failures ${JSON.stringify(s.failuresByDiagnosis)}`);
  console.log(
    `setup ${report.setup?.ms} ms, ${report.setup?.ipRuns} ip runs; timer delay ${JSON.stringify(report.simulator)}; storm command took ${Date.now() - started} ms; boot time ${JSON.stringify(s.bootTimeMs)}`,
  );
  if (process.env.ONE_STORM_JSON) await writeFile(process.env.ONE_STORM_JSON, JSON.stringify(report));
  for (const n of report.nodes) if (n.outcome !== 'booted') console.log(`  ${n.index} ${n.outcome}: ${n.detail}`);
  console.log(
    `server: ${server.child.exitCode === null && server.child.signalCode === null ? 'alive' : `exited ${server.child.exitCode ?? server.child.signalCode}`}`,
  );
  console.log(server.lines.slice(-10).join('\n'));
  await server.stop();
} finally {
  await link.destroy();
  await restoreNeighbours();
  await rm(dir, { recursive: true, force: true });
}
