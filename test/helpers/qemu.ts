/**
 * Virtual nodes for firmware tests: QEMU under software emulation (TCG, no KVM)
 * with real firmware, on a tap device inside a lab namespace.
 *
 *   const lab = await Lab.create();
 *   const vmNs = await lab.namespace('vm1');
 *   await segment.attach({ ns: vmNs, ifname: 'eth0' });   // the namespace's uplink to the server's segment
 *   const tap = await attachTap(vmNs);                      // tap0 on bridge brvm together with eth0
 *   const vm = await VirtualNode.start({ name: 'n1', firmware: 'uefi-http', ns: vmNs, tap, mac: '52:54:00:00:00:01' });
 *   const { cmdline } = await vm.waitForMarker(120_000);   // the payload's initrd says it is up
 *   await vm.stop();
 *
 * Firmware (each verified by running it, see docs/firmware-lab.md):
 *   bios-ipxe  SeaBIOS + QEMU's iPXE option ROM for an e1000 (Debian ipxe-qemu), `-boot n`.
 *              `-machine pc,graphics=off` makes SeaBIOS mirror its screen (and iPXE's,
 *              which prints through the BIOS) to the serial port.
 *   uefi-pxe   OVMF (pflash: shared read-only CODE, a per-VM copy of VARS) with a
 *              virtio-net NIC whose option ROM is removed (`romfile=`), so OVMF's own
 *              VirtioNetDxe/SNP and PXE client run; `bootindex=1` puts the NIC first
 *              (`-boot n` does not apply to OVMF). IPv6 is switched off in the firmware
 *              (opt/org.tianocore/IPv6Support=n): after PXEv4 comes HTTPv4, not PXEv6.
 *   uefi-http  as uefi-pxe, with PXE over IPv4 and IPv6 off too, so the only boot
 *              option left on the NIC is UEFI HTTP Boot over IPv4.
 *   secureBoot (uefi-pxe, uefi-http): OVMF built with Secure Boot and SMM
 *              (OVMF_CODE_4M.secboot.fd) and a copy of OVMF_VARS_4M.ms.fd, whose
 *              variable store has Microsoft's keys enrolled and Secure Boot on;
 *              `-machine q35,smm=on` and secure pflash, which that build needs.
 *              It runs only images signed by those keys: shim, not Debian's iPXE.
 *   arch arm64 (uefi-pxe, uefi-http): qemu-system-aarch64 `-M virt -cpu max` with AAVMF
 *              (Debian qemu-efi-aarch64: read-only CODE, a per-VM copy of VARS) and a
 *              virtio-net NIC; the same fw_cfg switches as OVMF (ArmVirtQemu reads them
 *              too). Its serial port is the PL011 (ttyAMA0 in the kernel).
 *   direct     QEMU loads kernel + initrd itself (`-kernel/-initrd/-append`); no firmware
 *              network boot, optional NIC.
 *
 * Everything the VM prints on its first serial port (firmware, iPXE, kernel, the
 * marker) is written verbatim to `serialLog`; matching runs on the same text with
 * terminal escape sequences removed. When a boot fails, that log is the diagnosis:
 * errors quote its last lines.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, type WriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { NODE_MARKER } from './payload.js';
import type { Netns } from './netns.js';
import { REPO_ROOT } from './paths.js';

export type Firmware = 'bios-ipxe' | 'uefi-pxe' | 'uefi-http' | 'direct';

export const QEMU_BINARY = 'qemu-system-x86_64';
export const QEMU_BINARY_ARM64 = 'qemu-system-aarch64';
/** Debian qemu-efi-aarch64: EDK2's ArmVirtQemu build for `-M virt` (64 MiB flash images). */
export const AAVMF_CODE = '/usr/share/AAVMF/AAVMF_CODE.fd';
export const AAVMF_VARS = '/usr/share/AAVMF/AAVMF_VARS.fd';
/** Debian ovmf: the 4 MB flash layout (the 2 MB one is legacy). */
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** Debian ovmf: the Secure Boot build (SMM) and a variable store with Microsoft's keys enrolled. */
export const OVMF_CODE_SECBOOT = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
export const OVMF_VARS_MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
/** Debian ipxe-qemu: iPXE built as a PCI option ROM for QEMU's e1000. */
export const IPXE_E1000_ROM = '/usr/lib/ipxe/qemu/pxe-e1000.rom';
/** Default home of serial logs: `<name>.serial.log`, kept after the run (overwritten by the next one). */
export const SERIAL_LOG_DIR = join(REPO_ROOT, 'node_modules/.cache/rackboot-vm-logs');
/** Per-VM scratch (the private OVMF variable store): `<pid>-<n>`, removed by stop(), swept once the pid is gone. */
const SCRATCH_ROOT = join(REPO_ROOT, 'node_modules/.cache/rackboot-vm');

/** Serial text by which each firmware announces that it is asking DHCP for a boot. */
export const FIRMWARE_DHCP_TEXT: Record<Exclude<Firmware, 'direct'>, RegExp> = {
  // iPXE: "Configuring (net0 52:54:00:...)..." (this Debian build's wording for DHCP)
  'bios-ipxe': /Configuring \(net\d [0-9a-f:]{17}\)/,
  'uefi-pxe': />>Start PXE over IPv4/,
  'uefi-http': />>Start HTTP Boot over IPv4/,
};

/**
 * Serial text that means the firmware has run out of things to boot: waiting any
 * longer for the marker is pointless.
 */
const GAVE_UP: Record<Firmware, RegExp[]> = {
  // iPXE: "No configuration methods succeeded" then this; SeaBIOS then says "No bootable device".
  'bios-ipxe': [/No more network devices/, /No bootable device/, /Kernel panic/],
  // OVMF names the boot option that failed; after the last one BDS starts the built-in shell.
  'uefi-pxe': [/BdsDxe: failed to load Boot[0-9A-F]+ "UEFI PXEv4/, /UEFI Interactive Shell/, /Kernel panic/],
  'uefi-http': [/BdsDxe: failed to load Boot[0-9A-F]+ "UEFI HTTPv4/, /UEFI Interactive Shell/, /Kernel panic/],
  direct: [/Kernel panic/],
};

export interface VirtualNodeOptions {
  /** Names the VM in logs, errors and the default serial log path. */
  name: string;
  firmware: Firmware;
  /** The NIC's MAC ("52:54:00:12:34:56"); default derived from `name`. */
  mac?: string;
  /** The namespace holding `tap`; QEMU runs inside it (and lab.destroy() kills it). */
  ns?: Netns;
  /** A tap device in `ns` (see attachTap). Required for the network firmwares. */
  tap?: string;
  /** 'direct' only: kernel, initrd and command line. */
  kernel?: string;
  initrd?: string;
  append?: string;
  /** uefi-pxe and uefi-http: Secure Boot enforced, with Microsoft's keys (see the header). */
  secureBoot?: boolean;
  /** uefi-pxe and uefi-http: the machine's architecture (default x64; arm64 is `-M virt` with AAVMF). */
  arch?: 'x64' | 'arm64';
  /** Guest RAM (default 256 MiB: enough for OVMF, iPXE and the Debian kernel with the initrd). */
  memoryMb?: number;
  /** Where the serial output goes (default: SERIAL_LOG_DIR/<name>.serial.log). */
  serialLog?: string;
  /** QEMU is killed after this long no matter what (default 10 minutes). */
  timeoutMs?: number;
  /** Appended to QEMU's command line. */
  extraArgs?: readonly string[];
}

export interface SerialMatch {
  match: RegExpExecArray;
  /** From QEMU's start to the arrival of the serial output that completed the match. */
  elapsedMs: number;
}

export interface NodeUp {
  /** /proc/cmdline as the payload's /init printed it. */
  cmdline: string;
  elapsedMs: number;
}

/** Why a wait ended without its match: carries the serial tail for the test's failure message. */
export class VirtualNodeError extends Error {
  constructor(
    message: string,
    readonly serialTail: string,
    readonly serialLog: string,
  ) {
    super(`${message}\n--- serial (${serialLog}), last lines ---\n${serialTail}\n---`);
    this.name = 'VirtualNodeError';
  }
}

interface Waiter {
  check(): void;
}

const liveNodes = new Set<VirtualNode>();
let exitHookInstalled = false;

export class VirtualNode {
  /** When QEMU was spawned (ms since the epoch). */
  readonly startedAt: number;
  /** How QEMU ended; resolves when it has. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private text = '';
  /** Arrival time of the serial text, as (end offset in `text`, ms since epoch). */
  private readonly arrivals: Array<{ end: number; at: number }> = [];
  private pendingEscape = '';
  private stderr = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private timedOut = false;
  private readonly waiters = new Set<Waiter>();
  private readonly hardTimer: NodeJS.Timeout;

  private constructor(
    readonly name: string,
    readonly firmware: Firmware,
    readonly mac: string,
    /** The full QEMU command line (without the `ip netns exec NS` prefix). */
    readonly argv: readonly string[],
    readonly serialLog: string,
    private readonly child: ChildProcess,
    private readonly log: WriteStream,
    private readonly scratch: string,
    timeoutMs: number,
  ) {
    this.startedAt = Date.now();
    child.stdout!.on('data', (chunk: Buffer) => this.onSerial(chunk));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    child.stdin!.on('error', () => {}); // EPIPE once QEMU is gone
    this.exited = new Promise((resolve) => {
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.exitInfo = { code, signal };
        clearTimeout(this.hardTimer);
        liveNodes.delete(this);
        this.log.end();
        for (const waiter of [...this.waiters]) waiter.check();
        resolve(this.exitInfo);
      });
      child.once('error', (err) => {
        this.stderr += `\n${err.message}`;
      });
    });
    this.hardTimer = setTimeout(() => {
      this.timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    this.hardTimer.unref();
  }

  /** Starts QEMU; resolves once the process is running (the firmware boots on its own). */
  static async start(options: VirtualNodeOptions): Promise<VirtualNode> {
    const mac = (options.mac ?? macFor(options.name)).toLowerCase();
    if (scratchCounter === 0) sweepStaleScratch();
    const scratch = join(SCRATCH_ROOT, `${process.pid}-${++scratchCounter}`);
    mkdirSync(scratch, { recursive: true });
    try {
      const serialLog = options.serialLog ?? join(SERIAL_LOG_DIR, `${options.name.replace(/[^A-Za-z0-9_.-]/g, '_')}.serial.log`);
      mkdirSync(dirname(serialLog), { recursive: true });
      let varsCopy: string | undefined;
      if (options.firmware === 'uefi-pxe' || options.firmware === 'uefi-http') {
        const arm64 = options.arch === 'arm64';
        if (arm64 && options.secureBoot) throw new Error(`${options.name}: Secure Boot is tested on x64 only`);
        const [code, vars] = arm64 ? [AAVMF_CODE, AAVMF_VARS] : options.secureBoot ? [OVMF_CODE_SECBOOT, OVMF_VARS_MS] : [OVMF_CODE, OVMF_VARS];
        const pkg = arm64 ? 'qemu-efi-aarch64' : 'ovmf';
        for (const file of [code, vars]) if (!existsSync(file)) throw new Error(`${file} not found: install the Debian package ${pkg}`);
        // OVMF writes boot options into its variable store: one private copy per VM.
        varsCopy = join(scratch, 'OVMF_VARS.fd');
        copyFileSync(vars, varsCopy);
      }
      if (options.firmware === 'bios-ipxe' && !existsSync(IPXE_E1000_ROM)) throw new Error(`${IPXE_E1000_ROM} not found: install the Debian package ipxe-qemu`);
      const argv = qemuArgv({ ...options, mac }, { ovmfVars: varsCopy });
      const log = createWriteStream(serialLog);
      // If the test process dies without cleaning up (vitest kills workers without
      // 'exit' handlers), the kernel kills QEMU with it.
      const wrapped = ['setpriv', '--pdeathsig', 'KILL', '--', ...argv];
      const child = options.ns
        ? options.ns.spawn(wrapped, { stdio: ['pipe', 'pipe', 'pipe'] })
        : spawn(wrapped[0], wrapped.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      const node = new VirtualNode(options.name, options.firmware, mac, argv, serialLog, child, log, scratch, options.timeoutMs ?? 10 * 60_000);
      liveNodes.add(node);
      installExitHook();
      await Promise.race([once(child, 'spawn'), once(child, 'error').then(([err]) => Promise.reject(err as Error))]);
      return node;
    } catch (err) {
      rmSync(scratch, { recursive: true, force: true });
      throw err;
    }
  }

  /** The serial output so far, terminal escape sequences removed. */
  serialText(): string {
    return this.text;
  }

  /** QEMU's own stderr (warnings, "terminating on signal ..."). */
  qemuStderr(): string {
    return this.stderr;
  }

  /** Types into the VM's serial port (e.g. "\x02" for iPXE's Ctrl-B prompt). */
  writeSerial(data: string | Buffer): void {
    this.child.stdin!.write(data);
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /**
   * Resolves at the first serial output (from the start) that matches `pattern`.
   * Rejects when the time runs out, QEMU exits, or — unless `untilGaveUp` is
   * false — the firmware prints that it has nothing left to boot.
   */
  waitForSerial(pattern: RegExp, timeoutMs: number, options: { untilGaveUp?: boolean } = {}): Promise<SerialMatch> {
    const regex = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    const gaveUp = options.untilGaveUp === false ? [] : GAVE_UP[this.firmware];
    return new Promise((resolve, reject) => {
      const finish = (error?: string, match?: RegExpExecArray): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (match) resolve({ match, elapsedMs: this.arrivalOf(match.index + match[0].length) - this.startedAt });
        else reject(new VirtualNodeError(`${this.name} (${this.firmware}): ${error}`, this.tail(), this.serialLog));
      };
      const waiter: Waiter = {
        check: () => {
          const match = regex.exec(this.text);
          if (match) return finish(undefined, match);
          const stop = gaveUp.find((p) => p.test(this.text));
          if (stop) return finish(`the firmware gave up (${stop.source}) before ${regex.source} appeared`);
          if (this.exitInfo) {
            const how = this.timedOut ? 'was killed at its hard time limit' : `exited (${this.exitInfo.code ?? this.exitInfo.signal})`;
            finish(`QEMU ${how} before ${regex.source} appeared${this.stderr.trim() ? `; stderr: ${this.stderr.trim()}` : ''}`);
          }
        },
      };
      const timer = setTimeout(() => finish(`no ${regex.source} within ${timeoutMs} ms`), timeoutMs);
      this.waiters.add(waiter);
      waiter.check();
    });
  }

  /** Waits for the payload's marker line and returns the node's kernel command line. */
  async waitForMarker(timeoutMs: number): Promise<NodeUp> {
    const { match, elapsedMs } = await this.waitForSerial(new RegExp(`${NODE_MARKER} cmdline=([^\\r\\n]*)[\\r\\n]`), timeoutMs);
    return { cmdline: match[1].trim(), elapsedMs };
  }

  /** Stops QEMU (SIGTERM, SIGKILL after 3 s) and removes its scratch files; the serial log stays. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.exitInfo === undefined) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.scratch, { recursive: true, force: true });
  }

  /** @internal for the exit hook */
  killNow(): void {
    this.child.kill('SIGKILL');
  }

  private onSerial(chunk: Buffer): void {
    this.log.write(chunk);
    const raw = this.pendingEscape + chunk.toString('latin1');
    // Hold back an escape sequence cut off at the end of the chunk.
    // eslint-disable-next-line no-control-regex -- terminal escape sequences are control characters
    const cut = /\x1b(\[[0-9;?=]*|[()])?$/.exec(raw);
    this.pendingEscape = cut ? cut[0] : '';
    this.text += stripTerminal(cut ? raw.slice(0, cut.index) : raw);
    this.arrivals.push({ end: this.text.length, at: Date.now() });
    for (const waiter of [...this.waiters]) waiter.check();
  }

  private arrivalOf(offset: number): number {
    for (const { end, at } of this.arrivals) if (end >= offset) return at;
    return Date.now();
  }

  private tail(lines = 25): string {
    return this.text
      .split(/\r?\n|\r/)
      .filter((l) => l.trim())
      .slice(-lines)
      .join('\n');
  }
}

/** Removes CSI/escape sequences and backspace spinners so text matches plainly. */
export function stripTerminal(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- terminal escape sequences are control characters
      .replace(/\x1b\[[0-9;?=]*[A-Za-z]/g, '') // CSI: colours, cursor moves, clear screen
      // eslint-disable-next-line no-control-regex -- terminal escape sequences are control characters
      .replace(/\x1b[()][0-9A-Za-z]/g, '') // character set selection
      // eslint-disable-next-line no-control-regex -- terminal escape sequences are control characters
      .replace(/\x1b[@-~]/g, '') // other two-byte escapes (ESC c resets the terminal)
      // eslint-disable-next-line no-control-regex -- iPXE draws its countdown with backspaces
      .replace(/[^\x08]\x08/g, '') // iPXE draws its countdown with backspaces
      // eslint-disable-next-line no-control-regex -- iPXE draws its countdown with backspaces
      .replace(/\x08/g, '')
  );
}

export interface QemuArgvOptions extends VirtualNodeOptions {
  mac: string;
}

/** QEMU's command line for a node (pure: no files are touched). `ovmfVars` is the VM's private copy. */
export function qemuArgv(options: QemuArgvOptions, paths: { ovmfVars?: string } = {}): string[] {
  const { firmware, mac, tap } = options;
  const arm64 = options.arch === 'arm64';
  if (arm64 && firmware !== 'uefi-pxe' && firmware !== 'uefi-http') throw new Error(`${options.name}: arch arm64 is for the UEFI firmwares only`);
  const argv = [
    arm64 ? QEMU_BINARY_ARM64 : QEMU_BINARY,
    '-name',
    options.name,
    '-accel',
    'tcg',
    '-m',
    String(options.memoryMb ?? 256),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-no-reboot',
  ];
  const netdev = (): string[] => {
    if (!tap) throw new Error(`${options.name}: firmware ${firmware} boots from the network and needs a tap (see attachTap)`);
    return ['-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`];
  };
  switch (firmware) {
    case 'bios-ipxe':
      argv.push('-machine', 'pc,graphics=off', '-boot', 'order=n', ...netdev(), '-device', `e1000,netdev=n0,mac=${mac},romfile=${IPXE_E1000_ROM}`);
      break;
    case 'uefi-pxe':
    case 'uefi-http': {
      if (!paths.ovmfVars) throw new Error('UEFI firmware needs a private copy of OVMF_VARS');
      if (arm64) {
        argv.push(
          '-machine',
          'virt',
          '-cpu',
          'max',
          '-drive',
          `if=pflash,format=raw,unit=0,readonly=on,file=${AAVMF_CODE}`,
          '-drive',
          `if=pflash,format=raw,unit=1,file=${paths.ovmfVars}`,
        );
      } else {
        // The Secure Boot build keeps its variables behind SMM: the flash must be secure.
        if (options.secureBoot) argv.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
        argv.push(
          '-machine',
          options.secureBoot ? 'q35,smm=on' : 'q35',
          '-drive',
          `if=pflash,format=raw,unit=0,readonly=on,file=${options.secureBoot ? OVMF_CODE_SECBOOT : OVMF_CODE}`,
          '-drive',
          `if=pflash,format=raw,unit=1,file=${paths.ovmfVars}`,
        );
      }
      argv.push(...netdev(), '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`, '-fw_cfg', 'name=opt/org.tianocore/IPv6Support,string=n');
      if (firmware === 'uefi-http') {
        argv.push('-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n');
      }
      break;
    }
    case 'direct':
      if (!options.kernel) throw new Error(`${options.name}: firmware 'direct' needs kernel (and usually initrd)`);
      argv.push('-machine', 'pc', '-kernel', options.kernel);
      if (options.initrd) argv.push('-initrd', options.initrd);
      argv.push('-append', options.append ?? 'console=ttyS0');
      if (tap) argv.push(...netdev(), '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=`);
      else argv.push('-nic', 'none');
      break;
  }
  argv.push(...(options.extraArgs ?? []));
  return argv;
}

/** A stable locally administered MAC (QEMU's 52:54:00 prefix) from a name. */
export function macFor(name: string): string {
  let hash = 2166136261;
  for (const ch of name) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619) >>> 0;
  const bytes = [(hash >>> 16) & 0xff, (hash >>> 8) & 0xff, hash & 0xff];
  return ['52', '54', '00', ...bytes.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export interface TapOptions {
  /** The tap's name (default: the first free tapN in the namespace). */
  tap?: string;
  /** Bridge to put the tap on (created if missing; default 'brvm'); null = no bridge. */
  bridge?: string | null;
  /** Interface joined to the bridge with the tap (default 'eth0' if it exists); null = none. */
  uplink?: string | null;
}

/**
 * Creates a tap device in `ns` for a VM and, by default, bridges it with the
 * namespace's uplink (eth0): the VM's frames then leave the namespace through
 * eth0 as if the VM were plugged into the segment eth0 is on. IPv6 is switched off
 * on the tap and the bridge so captures show only the VM's own traffic. The
 * uplink must not carry an address (a bridge port's address would not work).
 * Returns the tap's name.
 */
export async function attachTap(ns: Netns, options: TapOptions = {}): Promise<string> {
  const links = await listLinks(ns);
  const tap = options.tap ?? nextFree(links, 'tap');
  await ns.exec(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await disableIpv6(ns, tap);
  const bridge = options.bridge === undefined ? 'brvm' : options.bridge;
  if (bridge !== null) {
    if (!links.some((l) => l.ifname === bridge)) {
      // No STP and no forwarding delay: the firmware's first DHCPDISCOVER must not be dropped.
      await ns.exec(['ip', 'link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
      await disableIpv6(ns, bridge);
      await ns.exec(['ip', 'link', 'set', bridge, 'up']);
    }
    const uplinkName = options.uplink === undefined ? (links.some((l) => l.ifname === 'eth0') ? 'eth0' : null) : options.uplink;
    if (uplinkName !== null) {
      const uplink = links.find((l) => l.ifname === uplinkName);
      if (!uplink) throw new Error(`attachTap: no interface ${uplinkName} in ${ns.name}`);
      if (uplink.master !== bridge) {
        if (uplink.addr_info?.some((a) => a.family === 'inet')) {
          throw new Error(
            `attachTap: ${uplinkName} in ${ns.name} has an IPv4 address; a bridge port cannot use it (give the VM's namespace an unaddressed uplink)`,
          );
        }
        await ns.exec(['ip', 'link', 'set', uplinkName, 'master', bridge, 'up']);
      }
    }
    await ns.exec(['ip', 'link', 'set', tap, 'master', bridge]);
  }
  await ns.exec(['ip', 'link', 'set', tap, 'up']);
  return tap;
}

interface LinkInfo {
  ifname: string;
  master?: string;
  addr_info?: Array<{ family: string }>;
}

async function listLinks(ns: Netns): Promise<LinkInfo[]> {
  return JSON.parse(await ns.exec(['ip', '-j', 'addr', 'show'])) as LinkInfo[];
}

function nextFree(links: readonly LinkInfo[], prefix: string): string {
  for (let n = 0; ; n++) if (!links.some((l) => l.ifname === `${prefix}${n}`)) return `${prefix}${n}`;
}

async function disableIpv6(ns: Netns, ifname: string): Promise<void> {
  await ns.exec(['sysctl', '-q', '-w', `net.ipv6.conf.${ifname}.disable_ipv6=1`]);
}

let scratchCounter = 0;

/** Scratch directories are named <pid>-<n>; remove those of processes that are gone. */
function sweepStaleScratch(): void {
  if (!existsSync(SCRATCH_ROOT)) return;
  for (const name of readdirSync(SCRATCH_ROOT)) {
    const pid = Number(name.split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(SCRATCH_ROOT, name), { recursive: true, force: true });
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // VMs outside a lab namespace (direct boots) are not killed by lab.destroy().
  process.on('exit', () => {
    for (const node of liveNodes) node.killNow();
    for (let n = 1; n <= scratchCounter; n++) rmSync(join(SCRATCH_ROOT, `${process.pid}-${n}`), { recursive: true, force: true });
  });
}
