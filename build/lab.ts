/**
 * `make lab`: rackboot on a virtual segment with three QEMU nodes, on a machine
 * with no cluster. Run through build/lab.mjs (which bundles this file); needs root.
 *
 *   node build/lab.mjs           boot the nodes, then keep rackboot running until Ctrl-C
 *   node build/lab.mjs --once    exit 0 once all three nodes are up, 1 if one fails
 *
 * Layout (all inside network namespaces named rb<pid>-<n>-<label>; nothing
 * touches the host's own network):
 *
 *   rb…-switch    bridge br0, the "rack switch": one veth port per member
 *   rb…-rackboot  eth0 10.88.0.1/24, rackboot serve --config rootfs-overlay/etc/rackboot/lab.yaml
 *   rb…-nodeN     eth0 (uplink to the switch) + tap0 on bridge brvm, QEMU on tap0
 *
 * Files: node_modules/.cache/rackboot-lab/{root,state,logs}. The boot root holds a
 * copy of the test payload (Debian kernel, busybox initrd, iPXE binaries); logs
 * keeps rackboot's JSON log and each VM's serial log after the run.
 *
 * The progress view is rackboot's JSON log (--log-format json --log-level debug)
 * with selected events pretty-printed, plus each VM's milestones read from its
 * serial console. See docs/lab.md.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { createWriteStream, existsSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { Lab, Segment, type Netns } from '../test/helpers/netns.js';
import { ensurePayload } from '../test/helpers/payload.js';
import { FIRMWARE_DHCP_TEXT, VirtualNode, attachTap, type Firmware } from '../test/helpers/qemu.js';
import { REPO_ROOT } from '../test/helpers/netns.js';

const CONFIG = join(REPO_ROOT, 'rootfs-overlay/etc/rackboot/lab.yaml');
const BUNDLE = join(REPO_ROOT, 'build/out/rackboot.mjs');
const WORK = join(REPO_ROOT, 'node_modules/.cache/rackboot-lab');
const ROOT = join(WORK, 'root');
const STATE = join(WORK, 'state');
const LOGS = join(WORK, 'logs');

const SERVER_IP = '10.88.0.1';
const SERVER_CIDR = `${SERVER_IP}/24`;
/** Must match the hosts in lab.yaml. */
const NODES: { name: string; firmware: Exclude<Firmware, 'direct'>; mac: string; ip: string }[] = [
  { name: 'node1', firmware: 'bios-ipxe', mac: '52:54:00:88:00:01', ip: '10.88.0.11' },
  { name: 'node2', firmware: 'uefi-pxe', mac: '52:54:00:88:00:02', ip: '10.88.0.12' },
  { name: 'node3', firmware: 'uefi-http', mac: '52:54:00:88:00:03', ip: '10.88.0.13' },
];
/** Software emulation (TCG) is slow; the firmware tests allow the same. */
const BOOT_TIMEOUT_MS = 270_000;

const once_ = process.argv.includes('--once');
/** Set on Ctrl-C / SIGTERM and at teardown: VMs dying then are not failures worth printing. */
let shuttingDown = false;
const started = Date.now();
const tty = process.stdout.isTTY === true;
const paint = (code: string, text: string): string => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);

function say(who: string, text: string, colour = '0'): void {
  const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
  console.log(`${paint('2', `[${t}s]`)} ${paint(colour, who.padEnd(8))} ${text}`);
}

/** A JSON log field for display, as String() shows it (an array joins with commas). */
const text = (value: unknown): string => String(value);
const nameOfMac = new Map(NODES.map((n) => [n.mac, n.name]));
const nameOfIp = new Map(NODES.map((n) => [n.ip, n.name]));
const who = (mac?: unknown, ip?: unknown): string =>
  (typeof mac === 'string' && nameOfMac.get(mac.toLowerCase())) ||
  (typeof ip === 'string' && nameOfIp.get(ip.replace(/^::ffff:/, ''))) ||
  text(mac ?? ip ?? '?');
const kb = (bytes: unknown): string => (typeof bytes === 'number' ? `${(bytes / 1024).toFixed(0)} KiB` : '?');

/** One rackboot JSON log line → a readable progress line, or nothing for the uninteresting ones. */
function showLogLine(line: Record<string, unknown>): void {
  const msg = text(line.msg ?? '');
  const f = line;
  switch (msg) {
    case 'rackboot ready':
      say(
        'rackboot',
        `ready: ${text(f.mode)} on ${text(f.interface)} ${text(f.address)}, pool ${text(f.pools)}, HTTP :${text(f.httpPort)}, TFTP :${text(f.tftpPort)}`,
        '32',
      );
      return;
    case 'lease bound':
      say(
        'rackboot',
        `lease bound   ${text(f.ip)} → ${who(f.mac)} (${text(f.mac)}, ${text(f.client)}${f.bootFile ? `, boot file ${text(f.bootFile)}` : ''})`,
        '36',
      );
      return;
    case 'proxy offer':
    case 'proxy ack':
    case 'boot server ack':
      say('rackboot', `${msg.padEnd(13)} ${who(f.mac, f.ip)} (${text(f.client)}) → ${text(f.bootFile)}`, '36');
      return;
    case 'tftp transfer done':
      say(
        'rackboot',
        `tftp done     ${text(f.filename)} → ${who(undefined, f.client)}: ${kb(f.bytes)} in ${text(f.ms)} ms${f.retransmits ? `, ${text(f.retransmits)} retransmits` : ''}`,
        '36',
      );
      return;
    case 'tftp transfer ended':
      say(
        'rackboot',
        `tftp ended    ${text(f.filename)} → ${who(undefined, f.client)}: ${text(f.reason)}${f.detail ? ` (${text(f.detail)})` : ''}`,
        f.detail === 'tsize probe' ? '36' : '33',
      );
      return;
    case 'served boot script':
      say('rackboot', `http script   /boot.ipxe → ${who(f.mac, f.remote)} (profile ${text(f.profile)})`, '36');
      return;
    case 'client went away during download':
      say('rackboot', `http aborted  ${text(f.path)} → ${who(undefined, f.remote)} after ${kb(f.sent)} of ${kb(f.length)}`, '33');
      return;
    case 'NAK':
      say('rackboot', `NAK to ${who(f.mac)}: ${text(f.reason)}`, '33');
      return;
    case 'stopping':
    case 'stopped':
      say('rackboot', msg);
      return;
  }
  if (line.level === 'warn' || line.level === 'error' || line.level === 'raw') {
    const { time: _t, level, msg: _m, ...rest } = line;
    say('rackboot', `${text(level)}: ${msg}${Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : ''}`, level === 'error' ? '31' : '33');
  }
}

interface Server {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

/**
 * rackboot in its namespace, in a process group of its own so that a Ctrl-C on
 * the terminal reaches only this runner, which then stops rackboot with SIGTERM.
 */
function startRackboot(ns: Netns): Server {
  const args = ['serve', '--config', CONFIG, '--root', ROOT, '--state-dir', STATE, '--log-format', 'json', '--log-level', 'debug'];
  const child = spawn('ip', ['netns', 'exec', ns.name, process.execPath, BUNDLE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const log = createWriteStream(join(LOGS, 'rackboot.log'));
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((r) => (resolveReady = r));
  createInterface({ input: child.stdout }).on('line', (text) => {
    log.write(`${text}\n`);
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { level: 'raw', msg: text };
    }
    if (line.msg === 'rackboot ready') resolveReady();
    showLogLine(line);
  });
  createInterface({ input: child.stderr }).on('line', (text) => {
    log.write(`${text}\n`);
    say('rackboot', `stderr: ${text}`, '31');
  });
  const exited = new Promise<number | null>((r) => child.once('close', (code) => (log.end(), r(code))));
  return { child, ready, exited };
}

async function stopRackboot(server: Server | undefined): Promise<number | null | undefined> {
  if (!server) return undefined;
  if (server.child.exitCode !== null || server.child.signalCode !== null) return server.child.exitCode;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
  const code = await server.exited;
  clearTimeout(timer);
  return code;
}

async function prepareFiles(): Promise<void> {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run 'make build' first`);
  say('lab', 'boot payload: build/payload.sh (cached after the first run)');
  const payload = await ensurePayload();
  await rm(WORK, { recursive: true, force: true });
  for (const dir of [ROOT, STATE, LOGS]) await mkdir(dir, { recursive: true });
  for (const file of [payload.kernel, payload.initrd, payload.undionly, payload.ipxeEfi, payload.snponly]) {
    if (file) await copyFile(file, join(ROOT, basename(file)));
  }
  say('lab', `boot root ${rel(ROOT)}: vmlinuz, initrd.img, iPXE binaries`);
}

const rel = (path: string): string => relative(process.cwd(), path) || '.';

interface NodeResult {
  name: string;
  ok: boolean;
  elapsedMs?: number;
  error?: string;
  serialLog: string;
}

/** Starts one node's VM and reports its milestones; resolves when it is up or has failed. */
async function bootNode(lab: Lab, segment: Segment, node: (typeof NODES)[number], vms: VirtualNode[]): Promise<NodeResult> {
  const serialLog = join(LOGS, `${node.name}.serial.log`);
  try {
    const ns = await lab.namespace(node.name);
    await segment.attach({ ns, ifname: 'eth0' });
    const vm = await VirtualNode.start({
      name: `rackboot-lab-${node.name}`,
      firmware: node.firmware,
      ns,
      tap: await attachTap(ns),
      mac: node.mac,
      serialLog,
      timeoutMs: BOOT_TIMEOUT_MS + 10_000,
    });
    vms.push(vm);
    say(node.name, `QEMU started: ${node.firmware}, MAC ${node.mac}, serial log ${rel(serialLog)}`, '35');
    vm.waitForSerial(FIRMWARE_DHCP_TEXT[node.firmware], BOOT_TIMEOUT_MS).then(
      ({ elapsedMs }) => say(node.name, `firmware asks for a network boot (DHCP) after ${(elapsedMs / 1000).toFixed(1)} s`, '35'),
      () => {},
    );
    vm.waitForSerial(/Linux version \S+/, BOOT_TIMEOUT_MS).then(
      ({ elapsedMs, match }) => say(node.name, `kernel starts (${match[0]}) after ${(elapsedMs / 1000).toFixed(1)} s`, '35'),
      () => {},
    );
    const up = await vm.waitForMarker(BOOT_TIMEOUT_MS);
    say(node.name, `UP after ${(up.elapsedMs / 1000).toFixed(1)} s — cmdline: ${up.cmdline}`, '1;32');
    const expected = [`rackboot.name=${node.name}`, `rackboot.mac=${node.mac}`, `rackboot.ip=${node.ip}`];
    const missing = expected.filter((part) => !up.cmdline.includes(part));
    if (missing.length) return { name: node.name, ok: false, error: `command line lacks ${missing.join(' ')}`, serialLog };
    return { name: node.name, ok: true, elapsedMs: up.elapsedMs, serialLog };
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    if (shuttingDown) return { name: node.name, ok: false, error: 'stopped', serialLog };
    say(node.name, `FAILED: ${error.split('\n')[0]} (serial log: ${rel(serialLog)})`, '1;31');
    return { name: node.name, ok: false, error, serialLog };
  }
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    console.error('make lab needs root (it creates network namespaces and tap devices): run it as root');
    return 2;
  }
  let lab: Lab | undefined;
  let server: Server | undefined;
  const vms: VirtualNode[] = [];
  // A second Ctrl-C does not skip the cleanup: the handlers stay installed until exit.
  const stopRequested = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        if (!shuttingDown) say('lab', `${signal}: stopping`);
        shuttingDown = true;
        resolve(signal);
      });
    }
  });

  const teardown = async (exitCode: number): Promise<number> => {
    shuttingDown = true;
    say('lab', 'tearing down: VMs, rackboot (SIGTERM), namespaces');
    await Promise.all(vms.map((vm) => vm.stop().catch(() => undefined)));
    const code = await stopRackboot(server);
    if (code !== undefined && code !== 0) say('rackboot', `exited with status ${code}`, '31');
    try {
      await lab?.destroy();
    } catch (err) {
      say('lab', `cleanup: ${err instanceof Error ? err.message : String(err)}`, '31');
      exitCode ||= 1;
    }
    say('lab', `done; logs are in ${rel(LOGS)}`);
    return exitCode;
  };

  try {
    await prepareFiles();
    lab = await Lab.create();
    const switchNs = await lab.namespace('switch');
    await switchNs.exec(['ip', 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await switchNs.exec(['ip', 'link', 'set', 'br0', 'up']);
    const segment = new Segment(switchNs, 'br0');
    const serverNs = await lab.namespace('rackboot');
    await segment.attach({ ns: serverNs, ifname: 'eth0', address: SERVER_CIDR });
    say('lab', `namespaces: ${switchNs.name} (rack switch, bridge br0), ${serverNs.name} (rackboot, eth0 ${SERVER_CIDR})`);

    server = startRackboot(serverNs);
    const early = await Promise.race([server.ready.then(() => undefined), server.exited, stopRequested]);
    if (early !== undefined) {
      if (typeof early === 'string') return await teardown(130);
      say('lab', `rackboot exited (${early}) before it was ready; log: ${rel(join(LOGS, 'rackboot.log'))}`, '31');
      return await teardown(1);
    }

    const booting = Promise.all(NODES.map((node) => bootNode(lab!, segment, node, vms)));
    const outcome = await Promise.race([booting, stopRequested]);
    if (typeof outcome === 'string') return await teardown(130);
    const results = outcome;
    const failed = results.filter((r) => !r.ok);
    const slowest = Math.max(...results.map((r) => r.elapsedMs ?? 0));
    console.log('');
    if (failed.length === 0)
      say(
        'lab',
        paint(
          '1;32',
          `all ${results.length} nodes up; slowest after ${(slowest / 1000).toFixed(1)} s, ${((Date.now() - started) / 1000).toFixed(1)} s since start`,
        ),
      );
    for (const r of failed) say('lab', paint('1;31', `${r.name} failed: ${r.error?.split('\n')[0]} — serial log ${r.serialLog}`));

    if (once_) return await teardown(failed.length ? 1 : 0);

    const mac = NODES[0].mac;
    console.log('');
    console.log(
      `  rackboot is running at ${paint('1', `http://${SERVER_IP}/`)} inside namespace ${serverNs.name} (not reachable from the host's own network).`,
    );
    console.log(`  Ask it for a node's boot script:`);
    console.log(`    ip netns exec ${serverNs.name} curl -s 'http://${SERVER_IP}/boot.ipxe?mac=${mac}'`);
    console.log(`  (asked from rackboot's own namespace, {ip} in the script is the asker's address, ${SERVER_IP})`);
    console.log(`  Its leases:  node ${rel(BUNDLE)} leases --state-dir ${rel(STATE)}`);
    console.log(`  Logs:        ${rel(LOGS)}/ (rackboot.log, <node>.serial.log)`);
    console.log(`  Press Ctrl-C to stop rackboot and remove the lab.`);
    console.log('');
    // The nodes power off once up; rackboot keeps serving until Ctrl-C (or exits on its own).
    const ended = await Promise.race([stopRequested, server.exited.then((code) => ({ code }))]);
    if (typeof ended !== 'string') {
      say('rackboot', `exited on its own (status ${ended.code}); log ${rel(join(LOGS, 'rackboot.log'))}`, '31');
      return await teardown(1);
    }
    console.log('');
    return await teardown(failed.length ? 1 : 0);
  } catch (err) {
    say('lab', `error: ${err instanceof Error ? err.message : String(err)}`, '31');
    return await teardown(1);
  }
}

// Exit at once: timers of waits that lost their race (serial milestones) would keep Node alive.
process.exit(await main());
