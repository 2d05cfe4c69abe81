#!/usr/bin/env node
// rackboot's benchmark against its peers (issue 6), in network namespaces on
// this machine, every peer started here with its own configuration:
//   1. DHCP   perfdhcp DORA rate and drops: rackboot (lease journal fsync on), Kea, dnsmasq
//   2. TFTP   1 and N concurrent streams of a 30 MB file, blksize 1468, windowsize 1 and 16,
//             at 0/1/5 % loss: rackboot, tftpd-hpa, dnsmasq
//   3. HTTP   N concurrent downloads of a 30 MB file: rackboot, nginx
//   4. DHCP latency while a TFTP storm runs: rackboot, dnsmasq
//   5. Storm  `rackboot storm` (PXE ROM -> TFTP iPXE -> iPXE DHCP -> HTTP kernel/initrd) against
//             rackboot and against dnsmasq + nginx: the classic 6-node table at 4000..250 kbit/s,
//             then 100, 500 and 1,000 nodes unshaped and at 1 Gbit/s, at 0/1/5 % loss
// Writes bench/results/<date>.json, <date>.md (ratios rackboot / peer from this run) and
// bench/results/<date>/*.svg. Numbers only: nothing here passes or fails on timing.
//
// Usage: node bench/run.mjs [--quick] [--only dhcp,tftp,http,latency,storm] [--out DIR]
//        [--storm-nodes 500,1000] [--storm-links unshaped,1000000] [--storm-loss 0,1,5] [--no-classic] [--storm-full]
// Needs root, build/out/rackboot.mjs (make build) and the peers (make bench installs them).
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { BenchLink, SERVER_IP } from './lib/link.mjs';
import { run } from './lib/sh.mjs';
import { startDnsmasq, startKea, startNginx, startRackboot, startTftpdHpa } from './lib/servers.mjs';
import { dhcpUnderTftpLoad, httpDownloads, perfdhcp, storm, tftpStreams } from './lib/measure.mjs';
import { barChart } from './lib/plots.mjs';
import { raiseNeighbourTable } from './lib/neighbours.mjs';
import { markdownSummary } from './lib/summary.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLE = join(REPO, 'build', 'out', 'rackboot.mjs');
const MB = 1024 * 1024;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    out: { type: 'string' },
    'storm-nodes': { type: 'string' },
    'storm-links': { type: 'string' },
    'storm-loss': { type: 'string' },
    'no-classic': { type: 'boolean' },
    'storm-full': { type: 'boolean' },
  },
  strict: true,
});
const QUICK = args.quick ?? false;
const ONLY = new Set((args.only ?? 'dhcp,tftp,http,latency,storm').split(','));

/**
 * Sizes: the issue's matrix, or a few-minute smoke run. Storm scale rows: per node count, each link
 * (rate null = unshaped, else kbit/s) with its loss rates, the payload and the time limit. To keep
 * the whole run near 30 minutes on 2 cores (docs/bench.md has the measured row times):
 * the 500- and 1,000-node rows carry 128 KB + 256 KB (the herd on DHCP and TFTP, not bulk bytes,
 * is what they test) and end at 60 s (PXE DHCP itself gives up at 60 s); they run 0 and 5 % loss
 * on the unshaped link and 0 % at 1 Gbit/s: at 0.45 MB a node, 1 Gbit/s is not the constraint
 * (1,000 nodes = 3.6 s physical limit), so lossy 1 Gbit/s rows would repeat the unshaped ones,
 * and the 100-node rows show the whole 0/1/5 % curve. --storm-full runs every loss rate on every
 * link (about 10 minutes more).
 */
const SCALE_LINKS = (full) => [
  { rateKbit: null, loss: full ? [0, 1, 5] : [0, 5] },
  { rateKbit: 1_000_000, loss: full ? [0, 1, 5] : [0] },
];
const PLAN = QUICK
  ? {
      bigMb: 4,
      dhcpSeconds: 5,
      dhcpRates: [500],
      tftpStreams: 10,
      tftpLoss: [0, 5],
      httpClients: 10,
      cap: 40,
      lossCap: 20,
      classicKbit: [4000, 1000],
      classicPayloadKb: 128,
      storm: [
        { nodes: 20, links: [{ rateKbit: null, loss: [0, 5] }], kernelKb: 1024, initrdKb: 2048, timeLimit: 300 },
        { nodes: 200, links: [{ rateKbit: null, loss: [0] }], kernelKb: 128, initrdKb: 256, timeLimit: 60 },
      ],
    }
  : {
      bigMb: 30,
      dhcpSeconds: 10,
      dhcpRates: [1000, 4000],
      tftpStreams: 100,
      tftpLoss: [0, 1, 5],
      httpClients: 100,
      cap: 60,
      lossCap: 20,
      classicKbit: [4000, 2000, 1500, 1250, 1000, 500, 250],
      classicPayloadKb: 64,
      storm: [
        { nodes: 100, links: SCALE_LINKS(true), kernelKb: 1024, initrdKb: 2048, timeLimit: 300 },
        { nodes: 500, links: SCALE_LINKS(args['storm-full']), kernelKb: 128, initrdKb: 256, timeLimit: 60 },
        { nodes: 1000, links: SCALE_LINKS(args['storm-full']), kernelKb: 128, initrdKb: 256, timeLimit: 60 },
      ],
    };
// --storm-nodes 1000 --storm-links unshaped --storm-loss 0 --no-classic: one slice of the storm matrix
// (e.g. to rerun a row); the payload and time limit stay those of the plan row for that size.
if (args['storm-nodes'] || args['storm-links'] || args['storm-loss']) {
  const pick = (text, parse) => (text === undefined ? undefined : text.split(',').map(parse));
  const nodes = pick(args['storm-nodes'], Number);
  const rates = pick(args['storm-links'], (l) => (l === 'unshaped' ? null : Number(l)));
  const loss = pick(args['storm-loss'], Number);
  const base = PLAN.storm;
  PLAN.storm = (nodes ?? base.map((r) => r.nodes)).map((n) => {
    const row = base.find((r) => r.nodes === n) ?? (n > 200 ? base.at(-1) : base[0]);
    const links = (rates ?? row.links.map((l) => l.rateKbit)).map((rateKbit) => ({
      rateKbit,
      loss: loss ?? row.links.find((l) => l.rateKbit === rateKbit)?.loss ?? [0],
    }));
    return { ...row, nodes: n, links };
  });
}
if (args['no-classic']) PLAN.classicKbit = [];

function log(message) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function versions() {
  const out = {};
  for (const pkg of ['dnsmasq-base', 'kea-dhcp4-server', 'kea-admin', 'tftpd-hpa', 'nginx-light', 'nginx', 'atftp', 'curl']) {
    const r = await run(['dpkg-query', '-W', '-f', '${Version}', pkg]);
    if (r.code === 0 && r.stdout) out[pkg] = r.stdout;
  }
  out.node = process.version;
  return out;
}

/** `rackboot storm` from the bundle when main.ts has the subcommand, else the storm CLI bundled here. */
async function stormCommand(dir, bundle) {
  const help = await run([process.execPath, bundle, 'storm', '--help']);
  if (help.code === 0 && help.stdout.includes('rackboot storm')) return [process.execPath, bundle, 'storm'];
  const outfile = join(dir, 'storm-cli.mjs');
  await build({
    stdin: {
      contents:
        "import { runStormCli } from './firmware/src/storm/cli.js';\nconst code = await runStormCli(process.argv.slice(2));\nprocess.stdout.write('', () => process.exit(code));\n",
      resolveDir: REPO,
      loader: 'ts',
      sourcefile: 'storm-entry.ts',
    },
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  });
  await copyFile(join(REPO, 'build', 'out', 'rackboot_packet.node'), join(dir, 'rackboot_packet.node'));
  return [process.execPath, outfile];
}

async function withServers(starters, body) {
  const started = [];
  try {
    for (const start of starters) started.push(await start());
    return await body(started);
  } finally {
    for (const s of started.reverse()) await s.stop();
  }
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces)');
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run make build`);
  const date = new Date().toISOString().replace(/[:]/g, '-').slice(0, 19);
  const resultsDir = args.out ? resolve(args.out) : join(REPO, 'bench', 'results');
  const plotsDir = join(resultsDir, date);
  await mkdir(plotsDir, { recursive: true });
  const dir = await mkdtemp(join(tmpdir(), 'rbstorm-bench-'));
  const root = join(dir, 'root');
  await mkdir(root);
  // nginx workers run as www-data: the boot root must be readable by others (mkdtemp makes 0700).
  await chmod(dir, 0o755);
  // Run a private copy of the bundle and its addons: a `make build` during the run rewrites
  // build/out/*.node in place, and a process with the old file mapped dies with SIGSEGV.
  const bundleDir = join(dir, 'bundle');
  await mkdir(bundleDir);
  for (const name of await readdir(dirname(BUNDLE))) await copyFile(join(dirname(BUNDLE), name), join(bundleDir, name));
  const link = await new BenchLink(process.pid).create();
  const ctx = {
    dir,
    root,
    link,
    bundle: join(bundleDir, 'rackboot.mjs'),
    seq: 0,
    plotsDir,
    stormCommand: await stormCommand(dir, join(bundleDir, 'rackboot.mjs')),
  };
  const results = {
    date,
    quick: QUICK,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30) },
    versions: await versions(),
    plan: PLAN,
  };
  const stop = async () => {
    await link.destroy().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await writeFile(join(root, 'big.bin'), randomBytes(PLAN.bigMb * MB));
    for (const f of ['undionly.kpxe', 'snponly.efi']) await copyFile(join('/usr/lib/ipxe', f), join(root, f));
    const big = { file: 'big.bin', size: PLAN.bigMb * MB };

    if (ONLY.has('dhcp')) results.dhcp = await benchDhcp(ctx);
    if (ONLY.has('tftp')) results.tftp = await benchTftp(ctx, big);
    if (ONLY.has('http')) results.http = await benchHttp(ctx, big);
    if (ONLY.has('latency')) results.dhcpLatencyUnderTftp = await benchLatency(ctx, big);
    if (ONLY.has('storm')) results.storm = await benchStorm(ctx);
  } finally {
    await stop();
  }
  const jsonPath = join(resultsDir, `${date}.json`);
  await writeFile(jsonPath, JSON.stringify(results, null, 1) + '\n');
  await writePlots(results, plotsDir);
  const md = markdownSummary(results, `${date}/`);
  await writeFile(join(resultsDir, `${date}.md`), md);
  process.stdout.write(md);
  log(`wrote ${jsonPath}, ${date}.md and plots in ${plotsDir}`);
}

async function benchDhcp(ctx) {
  await ctx.link.shape({});
  const out = [];
  for (const [name, start] of [
    ['rackboot', () => startRackboot(ctx)],
    ['kea', () => startKea(ctx)],
    ['dnsmasq', () => startDnsmasq(ctx, { tftp: false })],
  ]) {
    for (const rate of PLAN.dhcpRates) {
      log(`DHCP ${name} perfdhcp ${rate}/s for ${PLAN.dhcpSeconds} s`);
      // A fresh server per run: every run starts from an empty lease database.
      const r = await withServers([start], () => perfdhcp(ctx, { rate, seconds: PLAN.dhcpSeconds }));
      out.push({ server: name, ...r });
      log(`  ${r.rate} exchanges/s, drops ${r.dropPercent?.toFixed(2)} %`);
    }
  }
  return out;
}

async function benchTftp(ctx, big) {
  const out = [];
  const runs = [];
  for (const windowsize of [1, 16]) {
    runs.push({ streams: 1, windowsize, loss: 0 });
    for (const loss of PLAN.tftpLoss) runs.push({ streams: PLAN.tftpStreams, windowsize, loss });
  }
  for (const [name, start] of [
    ['rackboot', () => startRackboot(ctx, { tftpRateMbit: 4000, maxTransfers: 256 })],
    ['tftpd-hpa', () => startTftpdHpa(ctx)],
    ['dnsmasq', () => startDnsmasq(ctx, { dhcp: false })],
  ]) {
    await withServers([start], async () => {
      for (const r of runs) {
        await ctx.link.shape({ lossPercent: r.loss });
        log(`TFTP ${name} ${r.streams} x ${PLAN.bigMb} MB windowsize ${r.windowsize} loss ${r.loss} %`);
        const m = await tftpStreams(ctx, {
          streams: r.streams,
          windowsize: r.windowsize,
          file: big.file,
          size: big.size,
          capSeconds: r.loss > 0 ? PLAN.lossCap : PLAN.cap,
        });
        out.push({ server: name, ...r, ...m });
        log(`  ${m.completed}/${m.total} in ${m.seconds} s, ${m.mbitPerSecond} Mbit/s completed, goodput ${m.goodputMbit} Mbit/s`);
      }
    });
  }
  await ctx.link.shape({});
  return out;
}

async function benchHttp(ctx, big) {
  await ctx.link.shape({});
  const out = [];
  for (const [name, start] of [
    ['rackboot', () => startRackboot(ctx)],
    ['nginx', () => startNginx(ctx)],
  ]) {
    log(`HTTP ${name} ${PLAN.httpClients} x ${PLAN.bigMb} MB`);
    const m = await withServers([start], () =>
      httpDownloads(ctx, { clients: PLAN.httpClients, url: `http://${SERVER_IP}/${big.file}`, size: big.size, capSeconds: PLAN.cap * 2 }),
    );
    out.push({ server: name, clients: PLAN.httpClients, ...m });
    log(`  ${m.completed}/${m.total} in ${m.seconds} s, ${m.mbitPerSecond} Mbit/s`);
  }
  return out;
}

async function benchLatency(ctx, big) {
  await ctx.link.shape({});
  const out = [];
  for (const [name, start] of [
    ['rackboot', () => startRackboot(ctx, { tftpRateMbit: 4000 })],
    ['dnsmasq', () => startDnsmasq(ctx)],
  ]) {
    log(`DHCP latency under ${PLAN.tftpStreams} TFTP streams: ${name}`);
    const m = await withServers([start], () =>
      dhcpUnderTftpLoad(ctx, { streams: PLAN.tftpStreams, windowsize: 16, file: big.file, size: big.size, capSeconds: Math.min(PLAN.cap, 20) }),
    );
    out.push({ server: name, ...m });
    log(`  DISCOVER-OFFER idle ${m.idle.discoverOfferMs} ms, under load ${m.underLoad.discoverOfferMs} ms (drops ${m.underLoad.dropPercent?.toFixed(1)} %)`);
  }
  return out;
}

/** The boot script the classic stack serves (rackboot generates its own per node). */
const CLASSIC_SCRIPT = `#!ipxe\nkernel http://${SERVER_IP}/vmlinuz initrd=initrd.img\ninitrd http://${SERVER_IP}/initrd.img\nboot\n`;

async function benchStorm(ctx) {
  await writeFile(join(ctx.root, 'boot.ipxe'), CLASSIC_SCRIPT);
  const stacks = [
    ['rackboot', (rateKbit) => [() => startRackboot(ctx, { tftpRateMbit: rateKbit ? rateKbit / 1000 : 4000 })]],
    ['dnsmasq+nginx', () => [() => startDnsmasq(ctx), () => startNginx(ctx)]],
  ];
  const out = { classic: [], scale: [] };
  const payload = async (kernelBytes, initrdBytes) => {
    await writeFile(join(ctx.root, 'vmlinuz'), randomBytes(kernelBytes));
    await writeFile(join(ctx.root, 'initrd.img'), randomBytes(initrdBytes));
  };
  const one = async (stack, label, { nodes, rateKbit, lossPercent, timeLimit, payloadBytes }) => {
    await ctx.link.shape({ rateKbit, lossPercent });
    const [name, starters] = stack;
    log(`storm ${name} ${label}`);
    const report = await withServers(starters(rateKbit), () => storm(ctx, { nodes, timeLimit, label: `${name.replace('+', '-')}-${label}` }));
    const s = report.summary;
    const perNode = Math.max(
      0,
      ...report.nodes.filter((n) => n.outcome === 'booted').map((n) => n.bytes.nbp + n.bytes.script + n.bytes.kernel + n.bytes.initrd),
    );
    const physicalMs = rateKbit && perNode ? ((nodes * perNode * 8) / (rateKbit * 1000)) * 1000 : null;
    const row = {
      server: name,
      nodes,
      payloadBytes,
      timeLimitSeconds: timeLimit,
      setupMs: report.setup?.ms ?? null,
      // How late the simulator's timers ran: large values would mean the simulator set the pace.
      simulatorDelayMs: report.simulator ?? null,
      rateKbit,
      lossPercent,
      booted: s.booted,
      timeToLastBootedMs: s.timeToLastBootedMs,
      physicalLimitMs: physicalMs === null ? null : Math.round(physicalMs),
      ratioToPhysical: physicalMs && s.timeToLastBootedMs !== null ? Number((s.timeToLastBootedMs / physicalMs).toFixed(2)) : null,
      failuresByDiagnosis: s.failuresByDiagnosis,
      dhcpTransmissions: s.dhcpTransmissions,
      tftpRetransmits: s.tftpRetransmits,
    };
    log(`  ${s.booted}/${nodes} booted, last at ${s.timeToLastBootedMs} ms${row.ratioToPhysical ? ` (${row.ratioToPhysical} x physical limit)` : ''}`);
    return row;
  };
  // The classic table: 6 nodes on a slow link. Small payload so the 250 kbit/s row fits the run.
  await payload(PLAN.classicPayloadKb * 1024, PLAN.classicPayloadKb * 1024);
  for (const rateKbit of PLAN.classicKbit) {
    for (const stack of stacks)
      out.classic.push(
        await one(stack, `classic-${rateKbit}k`, { nodes: 6, rateKbit, lossPercent: 0, timeLimit: 600, payloadBytes: 2 * PLAN.classicPayloadKb * 1024 }),
      );
  }
  // The neighbour table is kernel-wide and 1,024 entries by default: room for the biggest storm.
  const restoreNeighbours = await raiseNeighbourTable(Math.max(6, ...PLAN.storm.map((r) => r.nodes)));
  try {
    for (const plan of PLAN.storm) {
      await payload(plan.kernelKb * 1024, plan.initrdKb * 1024);
      for (const { rateKbit, loss } of plan.links) {
        for (const lossPercent of loss) {
          const label = `${plan.nodes}n-${rateKbit ? `${rateKbit / 1000}M` : 'unshaped'}-${lossPercent}pct`;
          for (const stack of stacks)
            out.scale.push(
              await one(stack, label, {
                nodes: plan.nodes,
                rateKbit,
                lossPercent,
                timeLimit: plan.timeLimit,
                payloadBytes: (plan.kernelKb + plan.initrdKb) * 1024,
              }),
            );
        }
      }
    }
  } finally {
    await restoreNeighbours();
  }
  await ctx.link.shape({});
  return out;
}

async function writePlots(results, dir) {
  const charts = {};
  if (results.dhcp) {
    charts['dhcp-rate.svg'] = barChart({
      title: 'DHCP: perfdhcp 4-way exchanges per second',
      unit: 'exchanges/s',
      groups: [...new Set(results.dhcp.map((r) => r.offeredRate))].map((rate) => ({
        label: `offered ${rate}/s`,
        bars: results.dhcp.filter((r) => r.offeredRate === rate).map((r) => ({ server: r.server, value: r.rate })),
      })),
    });
  }
  if (results.tftp) {
    const keys = [...new Set(results.tftp.map((r) => `${r.streams}x ws${r.windowsize} ${r.loss}%`))];
    charts['tftp-throughput.svg'] = barChart({
      title: 'TFTP: aggregate goodput (all bytes received)',
      unit: 'Mbit/s',
      groups: keys.map((k) => ({
        label: k,
        bars: results.tftp.filter((r) => `${r.streams}x ws${r.windowsize} ${r.loss}%` === k).map((r) => ({ server: r.server, value: r.goodputMbit })),
      })),
    });
  }
  if (results.http) {
    charts['http-throughput.svg'] = barChart({
      title: 'HTTP: concurrent downloads, aggregate',
      unit: 'Mbit/s',
      groups: [{ label: `${results.http[0]?.clients} clients`, bars: results.http.map((r) => ({ server: r.server, value: r.mbitPerSecond })) }],
    });
  }
  if (results.dhcpLatencyUnderTftp) {
    charts['dhcp-latency-under-tftp.svg'] = barChart({
      title: 'DHCP DISCOVER-OFFER delay, idle and during a TFTP storm',
      unit: 'ms',
      groups: [
        { label: 'idle', bars: results.dhcpLatencyUnderTftp.map((r) => ({ server: r.server, value: r.idle.discoverOfferMs })) },
        { label: 'under TFTP load', bars: results.dhcpLatencyUnderTftp.map((r) => ({ server: r.server, value: r.underLoad.discoverOfferMs })) },
      ],
    });
  }
  if (results.storm) {
    const rows = [...results.storm.classic, ...results.storm.scale];
    const label = (r) => `${r.nodes}n ${r.rateKbit ? `${r.rateKbit}k` : 'unshaped'} ${r.lossPercent}%`;
    charts['storm-time.svg'] = barChart({
      title: 'Storm: time until the last node booted',
      unit: 's',
      groups: [...new Set(rows.map(label))].map((l) => ({
        label: l,
        bars: rows.filter((r) => label(r) === l).map((r) => ({ server: r.server, value: r.timeToLastBootedMs === null ? null : r.timeToLastBootedMs / 1000 })),
      })),
    });
  }
  for (const [name, svg] of Object.entries(charts)) await writeFile(join(dir, name), svg);
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  process.exitCode = 1;
});
