// `rackboot storm`: the command around runStorm — options, payload files,
// progress line, text report, JSON and SVG files.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { isIpv4 } from '../net/addr.js';
import { parseFirmwareMix } from './firmware-mix.js';
import { formatReport, progressLine } from './report.js';
import { runStorm } from './storm.js';
import { timelineSvg } from './timeline-svg.js';
import { FIRMWARE_KINDS } from './timings.js';

export const STORM_USAGE = `Usage: rackboot storm --interface IF [options]

Plays N virtual nodes powering on at once against a boot server, each with its
own MAC (a macvlan on IF) and the published firmware timings: PXE DHCP
(DISCOVER at 4, 8, 16, 32 s), proxyDHCP on 4011 (1, 2, 3, 4 s), TFTP tsize
probe and transfer, iPXE's own DHCP, its script and kernel/initrd over HTTP.
Run it in a namespace or on a test port: it creates one interface per node.

Options:
  --interface IF        interface facing the boot server (required)
  --nodes N             number of virtual nodes (default 10)
  --firmware MIX        ${FIRMWARE_KINDS.join(', ')}, with weights: bios-pxe:3,uefi-pxe:1
                        (default bios-pxe)
  --stagger MS          ms between successive power-ons (default 0: all at once)
  --server IP           only count answers from this boot server
  --time-limit S        a boot not finished after S seconds is took_too_long (default 600)
  --payload-dir DIR     before the storm, write DIR/vmlinuz and DIR/initrd.img of
  --kernel-mb N         N and
  --initrd-mb N         N MB of random bytes (the server's boot root)
  --json FILE           write the full results as JSON
  --svg FILE            write the timeline (nodes x time, coloured by stage)
  --if-prefix P         macvlan name prefix (default stm)
  --mac-byte N          node i gets MAC 02:72:62:NN:ii:ii (N = 0-255, default random)
  --quiet               no per-node table, no progress line
  -h, --help            this help

Exit status: 0 when every node booted, 1 when some did not, 2 on bad usage.
`;

const OPTIONS = {
  interface: { type: 'string' },
  nodes: { type: 'string' },
  firmware: { type: 'string' },
  stagger: { type: 'string' },
  server: { type: 'string' },
  'time-limit': { type: 'string' },
  'payload-dir': { type: 'string' },
  'kernel-mb': { type: 'string' },
  'initrd-mb': { type: 'string' },
  json: { type: 'string' },
  svg: { type: 'string' },
  'if-prefix': { type: 'string' },
  'mac-byte': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

function number(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name}: found '${value}', expected a number from ${min} to ${max}`);
  return n;
}

export async function runStormCli(argv: string[], version = 'unknown'): Promise<number> {
  try {
    return await stormCommand(argv, version);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`rackboot storm: ${error.message}\n\n${STORM_USAGE}`);
      return 2;
    }
    process.stderr.write(`rackboot storm: ${(error as Error).message}\n`);
    return 1;
  }
}

async function stormCommand(argv: string[], version: string): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(STORM_USAGE);
    return 0;
  }
  if (!values.interface) throw new UsageError('--interface is required');
  if (values.server !== undefined && !isIpv4(values.server)) throw new UsageError(`--server: found '${values.server}', expected an IPv4 address`);
  const nodes = number(values.nodes, 'nodes', 10, 1, 4096);
  if (!Number.isInteger(nodes)) throw new UsageError('--nodes: expected a whole number');
  let mix;
  try {
    mix = parseFirmwareMix(values.firmware ?? 'bios-pxe');
  } catch (error) {
    throw new UsageError(`--firmware: ${(error as Error).message}`);
  }
  const staggerMs = number(values.stagger, 'stagger', 0, 0, 600_000);
  const bootLimitSeconds = number(values['time-limit'], 'time-limit', 600, 1, 86_400);
  if (values['payload-dir']) {
    await writePayload(values['payload-dir'], number(values['kernel-mb'], 'kernel-mb', 8, 0, 4096), number(values['initrd-mb'], 'initrd-mb', 32, 0, 4096));
  } else if (values['kernel-mb'] !== undefined || values['initrd-mb'] !== undefined) {
    throw new UsageError('--kernel-mb/--initrd-mb need --payload-dir');
  }
  const quiet = values.quiet ?? false;
  const tty = process.stderr.isTTY === true;
  let lastPrinted = 0;
  const report = await runStorm({
    interface: values.interface,
    nodes,
    mix,
    staggerMs,
    server: values.server,
    bootLimitSeconds,
    ifPrefix: values['if-prefix'],
    runByte: values['mac-byte'] === undefined ? undefined : number(values['mac-byte'], 'mac-byte', 0, 0, 255),
    version,
    warn: (message) => process.stderr.write(`rackboot storm: warning: ${message}\n`),
    onProgress: quiet
      ? undefined
      : (elapsed, states) => {
          // On a terminal the line redraws in place; in a log, one line every 5 s.
          if (tty) process.stderr.write(`\r${progressLine(elapsed, states)}\x1b[K`);
          else if (elapsed - lastPrinted >= 5000) {
            lastPrinted = elapsed;
            process.stderr.write(progressLine(elapsed, states) + '\n');
          }
        },
  });
  if (tty && !quiet) process.stderr.write('\n');
  process.stdout.write(formatReport(report, !quiet));
  if (values.json) {
    await mkdir(dirname(values.json), { recursive: true });
    await writeFile(values.json, JSON.stringify(report, null, 1) + '\n');
  }
  if (values.svg) {
    await mkdir(dirname(values.svg), { recursive: true });
    const s = report.summary;
    await writeFile(
      values.svg,
      timelineSvg(
        report.nodes,
        `rackboot storm: ${s.booted}/${s.nodes} booted, last at ${s.timeToLastBootedMs === null ? '-' : (s.timeToLastBootedMs / 1000).toFixed(1) + ' s'}`,
      ),
    );
  }
  return report.summary.failed === 0 ? 0 : 1;
}

/** The boot root's kernel and initrd, random so no layer can compress them. */
async function writePayload(dir: string, kernelMb: number, initrdMb: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, mb] of [
    ['vmlinuz', kernelMb],
    ['initrd.img', initrdMb],
  ] as const) {
    const chunk = 1024 * 1024;
    const parts: Buffer[] = [];
    for (let i = 0; i < Math.round(mb * 1024 * 1024); i += chunk) parts.push(randomBytes(Math.min(chunk, Math.round(mb * 1024 * 1024) - i)));
    await writeFile(join(dir, name), Buffer.concat(parts));
  }
}
