// The appliance overlay (rootfs-overlay/) is consistent: the systemd units pass
// systemd-analyze verify, rackboot runs with exactly the capabilities it needs, every
// path the unit uses exists in the overlay or is made at boot, sysusers/tmpfiles produce
// the user and directories, and the shipped configuration is valid.

import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const REPO = resolve(import.meta.dirname, '../..');
const OVERLAY = join(REPO, 'rootfs-overlay');
const UNITS = join(OVERLAY, 'usr/lib/systemd/system');
const BUNDLE = join(REPO, 'build/out/rackboot.mjs');
const BUILD_IMAGE = readFileSync(join(REPO, 'build/image/build-image.sh'), 'utf8');
/** The shipped configuration: the keys these tests compare the units against. */
const CONFIG = parseYaml(readFileSync(join(OVERLAY, 'etc/rackboot/rackboot.yaml'), 'utf8')) as {
  state_dir: string;
  interface: string;
  server_address: string;
  boot: { root: string };
};

/** A unit file as section → key → values (a key may repeat). */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = new Map();
      unit.set(header[1], section);
      continue;
    }
    const eq = line.indexOf('=');
    if (!section || eq < 0) throw new Error(`not a unit file line: ${raw}`);
    const key = line.slice(0, eq).trim();
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

function value(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

function words(unit: Unit, section: string, key: string): string[] {
  return (unit.get(section)?.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter((w) => w !== '');
}

const service = parseUnit(readFileSync(join(UNITS, 'rackboot.service'), 'utf8'));

/** A throw-away root: the overlay, rackboot's program files, and the host's systemd units. */
let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'rbimg-overlay-'));
  cpSync(OVERLAY, root, { recursive: true, verbatimSymlinks: true });
  const nodeBin = join(root, 'usr/lib/rackboot/node/bin/node');
  mkdirSync(dirname(nodeBin), { recursive: true });
  // Hard link when possible: the node binary is large.
  try {
    linkSync(process.execPath, nodeBin);
  } catch {
    copyFileSync(process.execPath, nodeBin);
  }
  if (existsSync(BUNDLE)) copyFileSync(BUNDLE, join(root, 'usr/lib/rackboot/rackboot.mjs'));
  // systemd-analyze --root resolves the targets and units ours depend on inside the root.
  for (const name of readdirSync('/usr/lib/systemd/system')) {
    const target = join(root, 'usr/lib/systemd/system', name);
    if (!existsSync(target)) {
      try {
        cpSync(join('/usr/lib/systemd/system', name), target, { recursive: true, verbatimSymlinks: true });
      } catch {
        // dangling links in the host's unit directory are of no use here
      }
    }
  }
  // Debian's ipxe package: ipxe.efi lives in /boot, /usr/lib/ipxe/ipxe.efi links to it.
  mkdirSync(join(root, 'usr/lib/ipxe'), { recursive: true });
  mkdirSync(join(root, 'boot'), { recursive: true });
  for (const f of ['undionly.kpxe', 'snponly.efi']) writeFileSync(join(root, 'usr/lib/ipxe', f), `fake ${f}\n`);
  writeFileSync(join(root, 'boot/ipxe.efi'), 'fake ipxe.efi\n');
  symlinkSync('/boot/ipxe.efi', join(root, 'usr/lib/ipxe/ipxe.efi'));
  // Debian's base-passwd: dialout (20) exists on every Debian system.
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\ndialout:x:20:\n');
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

const haveSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('rackboot.service', () => {
  it('runs the bundle with the appliance config as the unprivileged rackboot user', () => {
    expect(value(service, 'Service', 'ExecStart')).toBe(
      '/usr/lib/rackboot/node/bin/node /usr/lib/rackboot/rackboot.mjs serve --config /etc/rackboot/rackboot.yaml',
    );
    expect(value(service, 'Service', 'User')).toBe('rackboot');
    expect(new Set(words(service, 'Service', 'SupplementaryGroups'))).toEqual(new Set(['gpio', 'dialout']));
  });

  it('grants exactly CAP_NET_RAW, CAP_NET_BIND_SERVICE and CAP_NET_ADMIN, ambient and bounding, with no new privileges', () => {
    const wanted = new Set(['CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN']);
    expect(new Set(words(service, 'Service', 'AmbientCapabilities'))).toEqual(wanted);
    expect(new Set(words(service, 'Service', 'CapabilityBoundingSet'))).toEqual(wanted);
    expect(value(service, 'Service', 'NoNewPrivileges')).toBe('yes');
  });

  it('writes only its state directory, the one rackboot.yaml names', () => {
    expect(value(service, 'Service', 'ProtectSystem')).toBe('strict');
    expect(words(service, 'Service', 'ReadWritePaths')).toEqual([CONFIG.state_dir]);
    expect(`/var/lib/${value(service, 'Service', 'StateDirectory')}`).toBe(CONFIG.state_dir);
    expect(words(service, 'Unit', 'RequiresMountsFor')).toEqual([CONFIG.state_dir]);
  });

  it('restarts on failure, is not started before it could answer, and shows its log on the console', () => {
    expect(value(service, 'Service', 'Restart')).toBe('on-failure');
    expect(value(service, 'Unit', 'StartLimitIntervalSec')).toBe('0');
    // rackboot sends READY=1 and WATCHDOG=1 (test/integration/systemd-notify.test.ts).
    expect(value(service, 'Service', 'Type')).toBe('notify');
    expect(value(service, 'Service', 'NotifyAccess')).toBe('main');
    expect(value(service, 'Service', 'WatchdogSec')).toBe('30s');
    expect(value(service, 'Service', 'StandardOutput')).toBe('journal+console');
    expect(value(service, 'Install', 'WantedBy')).toBe('multi-user.target');
  });

  it('only uses paths that the overlay ships, the image build installs, or boot creates', () => {
    // The program files come from the image build: node from arm64-runtime.sh, the bundle beside it.
    expect(readFileSync(join(REPO, 'build/image/arm64-runtime.sh'), 'utf8')).toContain('"$OUT/node/bin/node"');
    expect(BUILD_IMAGE).toContain('LIB=$ROOTFS/usr/lib/rackboot');
    expect(BUILD_IMAGE).toContain('"$LIB/rackboot.mjs"');
    expect(existsSync(join(OVERLAY, 'etc/rackboot/rackboot.yaml'))).toBe(true);
    const tmpfiles = readFileSync(join(OVERLAY, 'usr/lib/tmpfiles.d/rackboot.conf'), 'utf8');
    expect(tmpfiles).toMatch(new RegExp(`^d ${CONFIG.state_dir} 0750 rackboot rackboot`, 'm'));
    const fstab = readFileSync(join(OVERLAY, 'etc/fstab'), 'utf8');
    expect(fstab).toMatch(new RegExp(`^LABEL=RB_STATE\\s+${CONFIG.state_dir}\\s+ext4\\s+rw,`, 'm'));
  });
});

// make setup installs systemd (Debian package), so this runs wherever make test runs.
if (!haveSystemdAnalyze) throw new Error('systemd-analyze is missing: run make setup (it installs the systemd package)');

describe('systemd-analyze verify', () => {
  for (const unit of readdirSync(UNITS).filter((f) => f.endsWith('.service'))) {
    it(`${unit} has no errors or unknown settings`, () => {
      const result = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '--man=no', `/usr/lib/systemd/system/${unit}`], {
        encoding: 'utf8',
        env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' },
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    });
  }
});

describe('sysusers.d and tmpfiles.d', () => {
  it('create the rackboot user in the gpio and dialout groups', () => {
    execFileSync('systemd-sysusers', [`--root=${root}`, join(OVERLAY, 'usr/lib/sysusers.d/rackboot.conf')], { stdio: 'pipe' });
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
    const group = readFileSync(join(root, 'etc/group'), 'utf8');
    expect(passwd).toMatch(/^rackboot:x:\d+:\d+:rackboot boot appliance:\/var\/lib\/rackboot:\/usr\/sbin\/nologin$/m);
    expect(group).toMatch(/^gpio:x:\d+:rackboot$/m);
    expect(group).toMatch(/^dialout:x:20:rackboot$/m);
  });

  it('create the state directory and seed the boot root with the iPXE binaries', () => {
    execFileSync('systemd-tmpfiles', [`--root=${root}`, '--create', join(OVERLAY, 'usr/lib/tmpfiles.d/rackboot.conf')], { stdio: 'pipe' });
    const state = statSync(join(root, 'var/lib/rackboot'));
    expect(state.isDirectory()).toBe(true);
    expect(state.mode & 0o777).toBe(0o750);
    for (const f of ['undionly.kpxe', 'ipxe.efi', 'snponly.efi']) {
      // Regular files: rackboot refuses a symlink that leads out of the boot root.
      expect(lstatSync(join(root, 'var/lib/rackboot/boot', f)).isFile(), f).toBe(true);
      expect(readFileSync(join(root, 'var/lib/rackboot/boot', f), 'utf8')).toBe(`fake ${f}\n`);
    }
  });

  it('make boot.root of rackboot.yaml the boot directory on the state partition', () => {
    const boot = CONFIG.boot;
    expect(boot.root).toBe('/srv/rackboot');
    // verbatim link in the overlay; it resolves inside the image, not on this host
    const link = execFileSync('readlink', [join(OVERLAY, 'srv/rackboot')], { encoding: 'utf8' }).trim();
    expect(link).toBe(`${CONFIG.state_dir}/boot`);
  });
});

describe('the rest of the appliance setup', () => {
  it('masks the login on the console UARTs the rackboot console uses', () => {
    for (const tty of ['ttyS1', 'ttyAMA0']) {
      const link = execFileSync('readlink', [join(OVERLAY, `etc/systemd/system/serial-getty@${tty}.service`)], { encoding: 'utf8' }).trim();
      expect(link).toBe('/dev/null');
    }
  });

  it('mounts the root read-only and keeps logs and temporary files in RAM', () => {
    const fstab = readFileSync(join(OVERLAY, 'etc/fstab'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.split(/\s+/));
    const byMount = new Map(fstab.map((f) => [f[1], f]));
    expect(byMount.get('/')?.[0]).toBe('LABEL=RB_ROOT');
    expect(byMount.get('/')?.[3]?.split(',')).toContain('ro');
    for (const m of ['/tmp', '/var/log']) expect(byMount.get(m)?.[2]).toBe('tmpfs');
    // The labels are the ones the image build gives the file systems.
    for (const flag of ['-L RB_ROOT', '-L RB_STATE', '-n RB_BOOT']) expect(BUILD_IMAGE).toContain(flag);
    expect(BUILD_IMAGE).toContain('root=LABEL=RB_ROOT ro');
  });

  it('keeps the journal off the SD card', () => {
    const journald = readFileSync(join(OVERLAY, 'usr/lib/systemd/journald.conf.d/60-rackboot-sdcard.conf'), 'utf8');
    expect(journald).toMatch(/^Storage=volatile$/m);
    expect(journald).toMatch(/^RuntimeMaxUse=\d+M$/m);
  });

  it('gives group gpio the GPIO chips and sysfs pins, and dialout the UARTs', () => {
    const rules = readFileSync(join(OVERLAY, 'usr/lib/udev/rules.d/60-rackboot.rules'), 'utf8');
    expect(rules).toMatch(/^SUBSYSTEM=="gpio", KERNEL=="gpiochip\*", GROUP="gpio", MODE="0660"$/m);
    expect(rules).toContain('chgrp gpio /sys/class/gpio/export /sys/class/gpio/unexport');
    expect(rules).toMatch(/^SUBSYSTEM=="tty", KERNEL=="ttyAMA\[0-9\]\*\|ttyS\[0-9\]\*.*GROUP="dialout"/m);
  });

  it('the default cluster network matches rackboot.yaml', () => {
    const network = parseUnit(readFileSync(join(OVERLAY, 'usr/lib/systemd/network/10-rackboot-cluster.network'), 'utf8'));
    expect(value(network, 'Match', 'Name')).toBe(CONFIG.interface);
    expect(value(network, 'Network', 'Address')).toBe(`${CONFIG.server_address}/24`);
    expect(value(network, 'Link', 'RequiredForOnline')).toBe('no-carrier');
  });
});

describe.skipIf(!existsSync(BUNDLE))('the shipped configuration', () => {
  it('passes rackboot check-config', () => {
    const result = spawnSync(process.execPath, [BUNDLE, 'check-config', join(OVERLAY, 'etc/rackboot/rackboot.yaml')], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
