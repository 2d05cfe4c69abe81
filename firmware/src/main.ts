// rackboot command line: serve | storm | check-config | leases | --version, and the
// rack verbs that talk to a running server's API (app/cli): nodes | power | boot | events | token.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { checkConfigFile } from './config/load.js';
import { serve, type ServeArgs } from './serve.js';
import { existsSync } from 'node:fs';
import { LeaseTable } from './dhcp/leases.js';
import { NodeInventory } from './inventory/nodes.js';
import { formatLeaseTable } from './dhcp/lease-format.js';
import { printableJson } from './util/printable.js';
import { ipToInt } from './net/addr.js';
import { DEFAULTS } from './config/defaults.js';
import { loadPacketAddon } from './net/native.js';
import { runStormCli } from './storm/cli.js';
import { runRackVerb } from './app/cli/verbs.js';

declare const __RACKBOOT_VERSION__: string | undefined;
export const VERSION = typeof __RACKBOOT_VERSION__ === 'string' ? __RACKBOOT_VERSION__ : '0.1.0 (source)';

const USAGE = `rackboot ${VERSION}
Boot appliance for compute clusters: DHCP/proxyDHCP, ARP, TFTP and HTTP boot.

Usage:
  rackboot serve --config FILE
  rackboot serve --interface IF --root DIR [--kernel-args ARGS]
  rackboot storm --interface IF [--nodes N] [--firmware MIX] [--json FILE] [--svg FILE]
  rackboot check-config FILE
  rackboot leases [--state-dir DIR] [--json]
  rackboot --version [--check-native]

Talking to the running server (its API over HTTPS; see docs/cli.md):
  rackboot nodes [list|show|add|set|rm] [TARGET...]
  rackboot power TARGET... on|off|cycle|status
  rackboot boot TARGET... next PROFILE
  rackboot events [--follow]
  rackboot token create NAME [--password-file FILE] [--save]

Targets are names, MACs, ranges (rack1-n[01-40]) or tags (tag:gpu).
The web UI and the API are at https://ADDRESS/ of the server's interface.

Run 'rackboot COMMAND --help' for the options of a command.
`;

const SERVE_USAGE = `Usage:
  rackboot serve --config FILE [--interface IF] [--root DIR]
  rackboot serve --interface IF --root DIR [--kernel-args ARGS]

Serves DHCP (or proxyDHCP), ARP and boot files on one interface until stopped.

Options:
  --config FILE        YAML configuration (see docs/config.md); check it with 'rackboot check-config'
  --interface IF       cluster-facing interface; overrides the file's 'interface'
  --root DIR           boot root (kernels, initrds, iPXE binaries); overrides 'boot.root'
  --kernel-args ARGS   without --config: kernel command line for the default profile
                       ({mac}, {ip} and {name} are replaced per node)
  --state-dir DIR      where leases are kept (default /var/lib/rackboot)
  --log-format F       auto (text on a terminal, JSON lines otherwise), json or text
  --log-level L        debug, info, warn or error
  -h, --help           this help

Without --config, rackboot runs full DHCP on the interface's subnet with a
pool derived from it (the upper half of the subnet) and the default boot profile.
Needs CAP_NET_RAW and CAP_NET_BIND_SERVICE (run as root, or use the systemd unit).
`;

const CHECK_USAGE = `Usage: rackboot check-config FILE

Validates a configuration file and prints every problem as
  FILE:LINE: KEY: found VALUE, expected WHAT
Exits 0 when the file is valid, 1 when it is not.
`;

const LEASES_USAGE = `Usage: rackboot leases [--state-dir DIR] [--json]

Lists the stored DHCP leases (bound, released, expired, declined) of a state
directory, with the inventory name of each lease's node (NODE, '-' when unknown). Safe to run while 'rackboot serve' owns the directory.

Options:
  --state-dir DIR   default /var/lib/rackboot
  --json            one JSON array instead of a table

Host names are client-supplied: control characters in them are shown as \\xHH
in the table and as \\u00HH escapes in JSON, never written raw.
`;

const SERVE_OPTIONS = {
  config: { type: 'string' },
  interface: { type: 'string' },
  root: { type: 'string' },
  'kernel-args': { type: 'string' },
  'state-dir': { type: 'string' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === 'version') {
    process.stdout.write(`rackboot ${VERSION}\n`);
    return rest.includes('--check-native') ? await checkNative() : 0;
  }
  try {
    switch (command) {
      case 'serve': {
        // Everything that matters (leases) is durable once serve returns; exit even if
        // some library left a handle open, so a stop never hangs under systemd.
        const code = await serveCommand(rest);
        await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
        return process.exit(code);
      }
      case 'storm': {
        // Nodes cut off by --time-limit may still hold timers; the report is written, so exit now.
        const code = await runStormCli(rest, VERSION);
        await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
        return process.exit(code);
      }
      case 'check-config':
        return await checkConfigCommand(rest);
      case 'leases':
        return await leasesCommand(rest);
      case 'nodes':
      case 'power':
      case 'boot':
      case 'events':
      case 'token': {
        const code = await runRackVerb(command, rest);
        // An --follow stream or a kept-alive socket must not hold the process once the verb is done.
        await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
        return process.exit(code);
      }
      default:
        process.stderr.write(`rackboot: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`rackboot ${command}: ${error.message}\n\n${error.usage}`);
      return 2;
    }
    throw error;
  }
}

class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

function parse<T extends ParseArgsConfig['options']>(args: string[], options: T, usage: string, positionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message, usage);
  }
}

async function serveCommand(args: string[]): Promise<number> {
  const { values } = parse(args, SERVE_OPTIONS, SERVE_USAGE);
  if (values.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (!values.config && !(values.interface && values.root)) {
    throw new UsageError('give --config FILE, or both --interface IF and --root DIR', SERVE_USAGE);
  }
  if (values.config && values['kernel-args'] !== undefined) {
    throw new UsageError('--kernel-args applies only without --config (set the profile cmdline in the file)', SERVE_USAGE);
  }
  const logFormat = values['log-format'];
  if (logFormat !== undefined && !['auto', 'json', 'text'].includes(logFormat)) {
    throw new UsageError(`--log-format: found '${logFormat}', expected auto, json or text`, SERVE_USAGE);
  }
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    throw new UsageError(`--log-level: found '${logLevel}', expected debug, info, warn or error`, SERVE_USAGE);
  }
  const serveArgs: ServeArgs = {
    configFile: values.config,
    interface: values.interface,
    root: values.root,
    kernelArgs: values['kernel-args'],
    stateDir: values['state-dir'],
    logFormat: logFormat as ServeArgs['logFormat'],
    logLevel: logLevel as ServeArgs['logLevel'],
  };
  return serve(serveArgs, VERSION);
}

async function checkConfigCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { help: { type: 'boolean', short: 'h' } }, CHECK_USAGE, true);
  if (values.help) {
    process.stdout.write(CHECK_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('expected exactly one FILE', CHECK_USAGE);
  const result = await checkConfigFile(positionals[0]);
  if (result.ok) {
    process.stdout.write(
      `${result.config.source}: OK (mode ${result.config.mode}, ${result.config.pools.length} pool(s), ${result.config.hosts.length} host(s), ${Object.keys(result.config.boot.profiles).length} profile(s))\n`,
    );
    return 0;
  }
  process.stdout.write(result.error.format() + '\n');
  return 1;
}

async function leasesCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { 'state-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, LEASES_USAGE);
  if (values.help) {
    process.stdout.write(LEASES_USAGE);
    return 0;
  }
  const dir = values['state-dir'] ?? DEFAULTS.stateDir;
  if (!existsSync(dir)) {
    process.stderr.write(`rackboot leases: state directory ${dir} does not exist\n`);
    return 1;
  }
  const leases = (await LeaseTable.readStored(dir)).sort((a, b) => ipToInt(a.ip) - ipToInt(b.ip));
  const names = await nodeNames(dir);
  if (values.json) {
    process.stdout.write(
      printableJson(
        leases.map((l) => ({ ...l, ...(names.has(l.mac) && { node: names.get(l.mac) }) })),
        1,
      ) + '\n',
    );
    return 0;
  }
  process.stdout.write(formatLeaseTable(leases, Date.now(), names));
  return 0;
}

/** MAC to inventory name from the state directory's node journal; none when it cannot be read (leases are still worth listing). */
async function nodeNames(dir: string): Promise<Map<string, string>> {
  try {
    return new Map((await NodeInventory.read(dir)).map((n) => [n.mac, n.name]));
  } catch (error) {
    process.stderr.write(`rackboot leases: no node names (cannot read the inventory in ${dir}: ${(error as Error).message})\n`);
    return new Map();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`rackboot: ${(error as Error)?.message ?? String(error)}\n`);
    process.exitCode = 1;
  },
);

/**
 * Loads every native addon the bundle ships (the image build runs this on the
 * target architecture): 1 when one fails, e.g. built for the wrong architecture.
 */
async function checkNative(): Promise<number> {
  const checks: [string, () => unknown][] = [
    ['rackboot_packet.node (AF_PACKET)', () => loadPacketAddon()],
    // @ts-expect-error raw-socket ships no type declarations; only loading it matters here.
    ['raw.node (raw-socket, ICMP probes)', () => import('raw-socket')],
    ['epoll.node (onoff, GPIO relays)', () => import('onoff')],
  ];
  let failed = 0;
  for (const [name, load] of checks) {
    try {
      await load();
      process.stdout.write(`native ${name}: ok (${process.arch})\n`);
    } catch (error) {
      failed++;
      process.stdout.write(`native ${name}: FAILED: ${(error as Error).message}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}
