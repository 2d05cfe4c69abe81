// The console's commands: one entry per command with its usage, help text,
// argument completion and the code that runs it. Commands talk to the terminal
// only through CommandContext, so they never see bytes or the serial port.

import type { NodeLoader, NodeView, PowerResult, RackbootEvent } from '../model/api.js';
import { BOOT_STAGES } from '../model/boot.js';
import { fit, formatClock, formatRelative, formatUptime, table } from './format.js';
import type { ConsoleHost, PowerAction } from './host.js';
import { NET_SET_USAGE, parseNetSet } from './network.js';

/** Who the console acts as, in events and power results. */
export const CONSOLE_ACTOR = 'console';

export interface CommandContext {
  host: ConsoleHost;
  columns: number;
  /** Wall-clock time, ms since the epoch (for "5 s ago"). */
  now(): number;
  /** Prints lines (no line endings); long ones are wrapped at spaces to fit the screen. */
  print(...lines: string[]): void;
  /** Asks a yes/no question; true only for y or yes. */
  confirm(question: string): Promise<boolean>;
  /** Reads one line, with or without echo; undefined when the user pressed Ctrl-C. */
  ask(prompt: string, echo: boolean): Promise<string | undefined>;
  /** Prints events as they happen until a key is pressed (or the session ends). */
  follow(subscribe: (print: (line: string) => void) => () => void): Promise<void>;
  logout(): void;
  /** Node names and profile names known at the last refresh, for completion. */
  nodeNames(): readonly string[];
  profileNames(): readonly string[];
}

/** A bad argument: the shell prints the problem and the command's usage. */
export class UsageError extends Error {}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** More lines for `help NAME`. */
  details: string[];
  /** Words that may go at argument position `index` (0 = first argument). */
  complete?(index: number, args: readonly string[], ctx: CommandContext): readonly string[];
  run(args: readonly string[], ctx: CommandContext): Promise<void>;
}

const POWER_ACTIONS: readonly PowerAction[] = ['on', 'off', 'cycle'];

function expectArgs(args: readonly string[], min: number, max: number): void {
  if (args.length < min) throw new UsageError(`expected ${min - args.length} more argument${min - args.length === 1 ? '' : 's'}`);
  if (args.length > max) throw new UsageError(`unexpected '${args[max]}'`);
}

async function findNode(ctx: CommandContext, id: string): Promise<NodeView> {
  const node = await ctx.host.node(id);
  if (!node) throw new UsageError(`no node named '${id}' (type nodes to list them)`);
  return node;
}

/** "recovery on (1 power-cycle since an operator switched it; boot window until 10:42:07)" or "recovery off". */
const LOADER_NAMES: Record<NodeLoader, string> = { ipxe: 'iPXE', grub: 'GRUB (shim)', rpi: 'Raspberry Pi bootloader' };

/** The `nodes` table's compact architecture: "x64 UEFI HTTP" -> "x64h", "x86 BIOS" -> "bios", unseen -> "-". */
function shortArch(arch: string | undefined): string {
  if (arch === undefined) return '-';
  if (arch === 'x86 BIOS') return 'bios';
  if (arch === 'Raspberry Pi') return 'rpi';
  return arch
    .replace(/ UEFI HTTP$/, 'h')
    .replace(/ UEFI$/, '')
    .replace(/ /g, '-');
}

function recoveryLine(recovery: NodeView['recovery'], now: number): string {
  if (!recovery.on) return 'recovery off';
  const cycles = `${recovery.attempts} power-cycle${recovery.attempts === 1 ? '' : 's'} since an operator switched it`;
  const window =
    recovery.bootWindowEndsAt !== undefined && recovery.bootWindowEndsAt > now ? `; boot window until ${formatClock(recovery.bootWindowEndsAt)}` : '';
  return `recovery on (${cycles}${window})`;
}

function powerTable(results: readonly PowerResult[], columns: number): string[] {
  return table(
    [
      { title: 'NODE', flex: true },
      { title: 'ACTION', width: 6 },
      { title: 'RESULT', width: 6 },
      { title: 'STATE', width: 7 },
      { title: 'MESSAGE', flex: true },
    ],
    results.map((r) => [r.name, r.action, r.ok ? 'ok' : 'FAILED', r.state, r.message ?? '']),
    columns,
  );
}

interface ApplianceAction {
  name: string;
  summary: string;
  details: string;
  /** Asked before acting; anything but y or yes does nothing. */
  question: string;
  /** Printed once confirmed, before acting: the console may go away with the appliance. */
  doing: string;
  act(host: ConsoleHost): Promise<void>;
}

/** reboot and shutdown: no arguments, a confirmation, then the action on the whole appliance. */
function applianceAction(spec: ApplianceAction): Command {
  return {
    name: spec.name,
    usage: spec.name,
    summary: spec.summary,
    details: [spec.details],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      if (!(await ctx.confirm(spec.question))) {
        ctx.print('Nothing done.');
        return;
      }
      ctx.print(spec.doing);
      await spec.act(ctx.host);
    },
  };
}

/** Wide enough for the longest event type, node.discovered, so messages line up. */
const EVENT_TYPE_WIDTH = 15;

/** One event on one line; the node is named (unless the message already names it, or `inNodeView`). */
export function eventLine(event: RackbootEvent, columns: number, inNodeView = false): string {
  const who = inNodeView ? '' : (event.node ?? event.mac ?? '');
  const indent = inNodeView ? '  ' : '';
  const message = who && !event.message.includes(who) ? `${who}: ${event.message}` : event.message;
  const head = `${indent}${formatClock(event.at)} ${event.type.padEnd(EVENT_TYPE_WIDTH)} `;
  return head + fit(message, columns - 1 - head.length);
}

export const COMMANDS: readonly Command[] = [
  {
    name: 'help',
    usage: 'help [COMMAND]',
    summary: 'list the commands, or explain one',
    details: ['Tab completes command names, node names and arguments.', 'Up/down arrows recall earlier lines; Ctrl-C abandons a line; Ctrl-U erases it.'],
    complete: (index) => (index === 0 ? COMMANDS.map((c) => c.name) : []),
    // eslint-disable-next-line @typescript-eslint/require-await -- every command runs async, so a usage error thrown by expectArgs arrives as a rejection
    async run(args, ctx) {
      expectArgs(args, 0, 1);
      if (args.length === 0) {
        ctx.print(
          ...table(
            [
              { title: 'COMMAND', width: 29 },
              { title: 'WHAT IT DOES', flex: true },
            ],
            COMMANDS.map((c) => [c.usage, c.summary]),
            ctx.columns,
          ),
        );
        ctx.print('Type help COMMAND for more about one command.');
        return;
      }
      const command = COMMANDS.find((c) => c.name === args[0]);
      if (!command) throw new UsageError(`no command '${args[0]}'; expected one of: ${COMMANDS.map((c) => c.name).join(', ')}`);
      ctx.print(`usage: ${command.usage}`, `  ${command.summary}`, ...command.details.map((d) => `  ${d}`));
    },
  },
  {
    name: 'status',
    usage: 'status',
    summary: 'uptime, interface, address, mode, counters',
    details: ['Counters are those since rackboot started.'],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      const s = await ctx.host.status();
      const stages = BOOT_STAGES.filter((stage) => (s.nodesByStage[stage] ?? 0) > 0).map((stage) => `${stage} ${s.nodesByStage[stage]}`);
      const recovering = (await ctx.host.nodes()).filter((n) => n.recovery.on).length;
      ctx.print(
        `rackboot ${s.version} on ${s.hostname}, up ${formatUptime(s.uptimeSeconds)}`,
        `interface ${s.interface}  address ${s.address}  mode ${s.mode}  http :${s.httpPort}  tftp :${s.tftpPort}`,
        `nodes ${s.nodes}${stages.length ? ': ' + stages.join(', ') : ''}`,
        recovering ? `recovery on for ${recovering} node${recovering === 1 ? '' : 's'} (automatic power-cycling after a failed boot)` : 'recovery off',
        `active: ${s.activeTftpTransfers} TFTP transfers, ${s.activeHttpDownloads} HTTP downloads`,
      );
      const counters = Object.entries(s.counters).sort(([a], [b]) => a.localeCompare(b));
      if (counters.length === 0) return;
      ctx.print('counters:');
      const cell = Math.floor((ctx.columns - 1) / 2);
      for (let i = 0; i < counters.length; i += 2) {
        const pair = counters.slice(i, i + 2).map(([name, value]) => {
          const number = String(value);
          return `  ${fit(name, cell - number.length - 4).padEnd(cell - number.length - 3)}${number}`;
        });
        ctx.print(
          pair
            .map((p) => p.padEnd(cell))
            .join('')
            .trimEnd(),
        );
      }
    },
  },
  {
    name: 'nodes',
    usage: 'nodes',
    summary: 'every node: name, MAC, IP, boot stage, architecture and loader, diagnosis',
    details: [
      'IP is the address the node has now (lease or last seen), else its fixed one.',
      'BOOT is the architecture its firmware announced (bios, x64, arm64, ia32; h: UEFI HTTP Boot; rpi; - not seen yet)',
      'and the boot loader it is handed (ipxe, grub, rpi). node NAME says both in full.',
    ],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      const nodes = (await ctx.host.nodes()).sort((a, b) => a.name.localeCompare(b.name));
      if (nodes.length === 0) {
        ctx.print('No nodes yet: they appear when they ask for a boot, or from the config.');
        return;
      }
      const rows = nodes.map((n) => [n.name, n.mac, n.currentIp ?? n.ip ?? '-', n.stage, `${shortArch(n.arch)} ${n.loader}`, n.diagnosis ?? '']);
      // IP, STAGE and BOOT are as wide as their widest cell, so names and diagnoses keep the rest of an 80-column screen.
      const widest = (i: number, title: string) => Math.max(title.length, ...rows.map((row) => row[i].length));
      ctx.print(
        ...table(
          [
            { title: 'NAME', flex: true },
            { title: 'MAC', width: 17 },
            { title: 'IP', width: widest(2, 'IP') },
            { title: 'STAGE', width: widest(3, 'STAGE') },
            { title: 'BOOT', width: widest(4, 'BOOT') },
            { title: 'DIAGNOSIS', flex: true },
          ],
          rows,
          ctx.columns,
          1,
        ),
        `${nodes.length} node${nodes.length === 1 ? '' : 's'}`,
      );
    },
  },
  {
    name: 'node',
    usage: 'node NAME',
    summary: "one node's state and boot timeline",
    details: ['NAME is the node name or its MAC address. The timeline shows the latest 15 events.'],
    complete: (index, _args, ctx) => (index === 0 ? ctx.nodeNames() : []),
    async run(args, ctx) {
      expectArgs(args, 1, 1);
      const n = await findNode(ctx, args[0]);
      const now = ctx.now();
      const address = n.currentIp ?? n.ip ?? 'none';
      ctx.print(
        `${n.name}  ${n.mac}  ip ${address}${n.ip && n.ip !== address ? ` (fixed ${n.ip})` : ''}  power ${n.power}`,
        `stage ${n.stage} since ${formatClock(n.stageSince)} (${formatRelative(n.stageSince, now)})${n.lastSeenAt ? `, last seen ${formatRelative(n.lastSeenAt, now)}` : ''}`,
        `profile ${n.profile ?? '(default)'}${n.nextBootProfile ? `, next boot ${n.nextBootProfile}` : ''}  firmware ${n.firmware ?? '-'}  ${n.approved ? '' : 'NOT APPROVED'}`.trimEnd(),
        `arch ${n.arch ?? 'not seen yet'}  loader ${LOADER_NAMES[n.loader]}`,
        `boots ${n.boots}, booted ${n.booted}, DHCP ACKs this boot ${n.dhcpAcks}`,
        recoveryLine(n.recovery, now),
      );
      if (n.diagnosis) ctx.print(`diagnosis: ${n.diagnosis}${n.diagnosisDetail ? ' - ' + n.diagnosisDetail : ''}`);
      const events = await ctx.host.timeline(n.mac);
      const shown = events.slice(-15);
      ctx.print(events.length ? `timeline (${shown.length} of ${events.length} events):` : 'timeline: no events yet');
      for (const event of shown) ctx.print(eventLine(event, ctx.columns, true));
    },
  },
  {
    name: 'leases',
    usage: 'leases',
    summary: 'the DHCP leases',
    details: ['EXPIRES is relative to now.'],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      const leases = await ctx.host.leases();
      if (leases.length === 0) {
        ctx.print('No leases.');
        return;
      }
      const now = ctx.now();
      ctx.print(
        ...table(
          [
            { title: 'IP', width: 15 },
            { title: 'MAC', width: 17 },
            { title: 'STATE', width: 9 },
            { title: 'EXPIRES', width: 12 },
            { title: 'NODE', flex: true },
          ],
          leases.map((l) => [l.ip, l.mac, l.state, formatRelative(l.expiresAt, now), l.node ?? l.hostname ?? '']),
          ctx.columns,
        ),
        `${leases.length} lease${leases.length === 1 ? '' : 's'}`,
      );
    },
  },
  {
    name: 'power',
    usage: 'power on|off|cycle NODE|all',
    summary: 'switch a node or the whole rack on, off, cycle',
    details: ['`all` acts on every node with a power channel, staggered by the sequencer.', 'off, and anything on all, asks for confirmation first.'],
    complete: (index, _args, ctx) => (index === 0 ? POWER_ACTIONS : index === 1 ? ['all', ...ctx.nodeNames()] : []),
    async run(args, ctx) {
      expectArgs(args, 2, 2);
      const action = args[0] as PowerAction;
      if (!POWER_ACTIONS.includes(action)) throw new UsageError(`expected on, off or cycle, found '${args[0]}'`);
      const target = args[1];
      let label = 'every node with a power channel';
      if (target !== 'all') label = (await findNode(ctx, target)).name;
      if ((target === 'all' || action === 'off') && !(await ctx.confirm(`Power ${action} ${label}?`))) {
        ctx.print('Nothing done.');
        return;
      }
      const results = await ctx.host.power(target, action, CONSOLE_ACTOR);
      if (results.length === 0) {
        ctx.print('No node has a power channel.');
        return;
      }
      ctx.print(...powerTable(results, ctx.columns));
    },
  },
  {
    name: 'boot',
    usage: 'boot NODE PROFILE',
    summary: "set a node's next boot profile (one boot only)",
    details: [
      'Used to re-image a node: the profile applies to the next boot, then the node',
      'goes back to its own profile. Type `boot NODE <Tab>` to list the profiles.',
    ],
    complete: (index, _args, ctx) => (index === 0 ? ctx.nodeNames() : index === 1 ? ctx.profileNames() : []),
    async run(args, ctx) {
      expectArgs(args, 2, 2);
      const node = await findNode(ctx, args[0]);
      const profiles = await ctx.host.profiles();
      const profile = profiles.find((p) => p.name === args[1]);
      if (!profile) throw new UsageError(`no profile '${args[1]}'; expected one of: ${profiles.map((p) => p.name).join(', ')}`);
      const updated = await ctx.host.setNextBoot(node.mac, profile.name, CONSOLE_ACTOR);
      ctx.print(`${updated.name} boots ${updated.nextBootProfile ?? profile.name} next time (once).`);
    },
  },
  {
    name: 'log',
    usage: 'log',
    summary: 'follow events live until a key is pressed',
    details: ['Shows stage changes, diagnoses, power actions and system events.'],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      ctx.print('Following events; press any key to stop.');
      await ctx.follow((print) => ctx.host.subscribeEvents((event) => print(eventLine(event, ctx.columns))));
      ctx.print('Stopped following.');
    },
  },
  {
    name: 'net',
    usage: 'net [set ADDR/PREFIX [gw GW]]',
    summary: "show or set the appliance's own address",
    details: [`To change it: ${NET_SET_USAGE}`, 'The change is applied after confirmation; nodes and browsers must use the', 'new address afterwards.'],
    complete: (index) => (index === 0 ? ['set'] : []),
    async run(args, ctx) {
      if (args.length === 0) {
        const n = await ctx.host.network();
        ctx.print(`interface  ${n.interface}`, `address    ${n.address ? `${n.address}/${n.prefix ?? '?'}` : 'none'}`, `gateway    ${n.gateway ?? 'none'}`);
        return;
      }
      if (args[0] !== 'set') throw new UsageError(`expected nothing or 'set', found '${args[0]}'`);
      const parsed = parseNetSet(args.slice(1));
      if (!parsed.ok) throw new UsageError(parsed.problem);
      const current = await ctx.host.network();
      const { change } = parsed;
      const from = current.address ? `${current.address}/${current.prefix ?? '?'}${current.gateway ? ` gw ${current.gateway}` : ''}` : 'no address';
      const to = `${change.address}/${change.prefix}${change.gateway ? ` gw ${change.gateway}` : ''}`;
      ctx.print(`${current.interface}: ${from}  ->  ${to}`);
      if (!(await ctx.confirm('Apply the new address?'))) {
        ctx.print('Nothing changed.');
        return;
      }
      await ctx.host.setNetwork(change, CONSOLE_ACTOR);
      ctx.print(
        `${current.interface} now has ${to}.`,
        'DHCP, TFTP and HTTP keep answering as the old address until rackboot restarts; to keep the new one across reboots, set server_address in rackboot.yaml too.',
      );
    },
  },
  {
    name: 'setup-token',
    usage: 'setup-token',
    summary: 'print the one-time web setup token',
    details: ['Before setup only: open the web UI and enter the token to set the admin password.'],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      const token = (await ctx.host.isSetupDone()) ? undefined : await ctx.host.setupToken();
      if (!token) {
        ctx.print('Setup is done; the setup token is no longer valid. Use passwd to reset the password.');
        return;
      }
      const net = await ctx.host.network().catch(() => undefined);
      ctx.print(
        `setup token: ${token}`,
        `Open https://${net?.address ?? '<appliance address>'}/ and enter it to set the admin password.`,
        'The browser warns about the certificate: accept it only if its SHA-256 fingerprint is the one the tls command prints.',
      );
    },
  },
  {
    name: 'tls',
    usage: 'tls',
    summary: 'the web UI certificate fingerprint and addresses',
    details: ['Compare the SHA-256 fingerprint with the one the browser shows before trusting the certificate.', 'The pin is what curl --pinnedpubkey takes.'],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      const tls = await ctx.host.tls();
      ctx.print(
        `web UI and API: ${tls.listen.map((l) => `https://${l.replace(/^\*:/, '<any address>:').replace(/:443$/, '')}/`).join('  ')}`,
        // 32 bytes as 16 + 16, so the fingerprint fits an 80-column terminal unwrapped.
        `certificate SHA-256 fingerprint:`,
        `  ${tls.sha256.slice(0, 47)}`,
        `  ${tls.sha256.slice(48)}`,
        `key pin: ${tls.pin}`,
        tls.source === 'generated' ? `self-signed, made by rackboot: ${tls.certFile}` : `the operator's certificate: ${tls.certFile}`,
      );
    },
  },
  {
    name: 'passwd',
    usage: 'passwd',
    summary: 'set the web admin password',
    details: [
      'Asks for the new password twice; nothing is echoed.',
      'Before setup this completes it: the setup token is then used up. If the web setup finished while you typed, the password set there stays.',
    ],
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      // Asked before the prompts: setup may be completed through the web while this one types, and must then not be overwritten.
      const firstSetup = !(await ctx.host.isSetupDone());
      const first = await ctx.ask('New password: ', false);
      if (!first) {
        ctx.print('Password not changed.');
        return;
      }
      const second = await ctx.ask('Again: ', false);
      if (second !== first) {
        ctx.print(second === undefined ? 'Password not changed.' : 'The passwords differ; password not changed.');
        return;
      }
      await ctx.host.setPassword(first, CONSOLE_ACTOR, firstSetup);
      ctx.print('Password changed.');
    },
  },
  applianceAction({
    name: 'reboot',
    summary: 'restart the appliance',
    details: 'Asks for confirmation. Nodes cannot boot until rackboot is back.',
    question: 'Reboot the appliance?',
    doing: 'Rebooting...',
    act: (host) => host.reboot(CONSOLE_ACTOR),
  }),
  applianceAction({
    name: 'shutdown',
    summary: 'power the appliance off',
    details: 'Asks for confirmation. Someone must power it on again by hand.',
    question: 'Shut the appliance down?',
    doing: 'Shutting down...',
    act: (host) => host.shutdown(CONSOLE_ACTOR),
  }),
  {
    name: 'logout',
    usage: 'logout',
    summary: 'end this session',
    details: ['The session also ends after a while without input.'],
    // eslint-disable-next-line @typescript-eslint/require-await -- every command runs async, so a usage error thrown by expectArgs arrives as a rejection
    async run(args, ctx) {
      expectArgs(args, 0, 0);
      ctx.logout();
    },
  },
];

/** Commands available before the admin password has been set. */
export const SETUP_COMMANDS: readonly string[] = ['help', 'setup-token', 'tls', 'passwd'];
