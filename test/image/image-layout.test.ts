// A built appliance image (make image → build/out/image/rackboot-arm64.img) has the
// partitions, boot files and file systems the board and the overlay expect. Reads the
// image in place (sfdisk, mtools, debugfs, dumpe2fs at partition offsets): no loop
// devices, no mounts, a few seconds. Skipped when no image has been built, since
// building one takes many minutes and is not part of `make test`.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const IMAGE = process.env.RACKBOOT_IMAGE ?? join(REPO, 'build/out/image/rackboot-arm64.img');
const SECTOR = 512;

interface Partition {
  node: string;
  start: number;
  size: number;
  type: string;
  bootable?: boolean;
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

// Run by `make image-check` after `make image`, not by `make test` (which builds no image).
if (!existsSync(IMAGE)) throw new Error(`no image at ${IMAGE}: run make image first`);

describe('the appliance image', () => {
  // Read in beforeAll: a skipped describe's body still runs when tests are collected.
  let table: { label: string; id: string; partitions: Partition[] };
  let boot: Partition | undefined;
  let root: Partition | undefined;
  let state: Partition | undefined;
  beforeAll(() => {
    table = (JSON.parse(run('sfdisk', ['--json', IMAGE])) as { partitiontable: typeof table }).partitiontable;
    [boot, root, state] = table.partitions;
  });
  const at = (p: Partition | undefined) => `${IMAGE}?offset=${p!.start * SECTOR}`;
  /** debugfs on the ext4 file system of a partition; returns stdout. */
  const debugfs = (p: Partition | undefined, request: string) => run('debugfs', ['-R', request, at(p)]);

  it('has an MBR with the FAT boot partition first and two Linux partitions after it', () => {
    expect(table.label).toBe('dos');
    expect(table.partitions).toHaveLength(3);
    expect(boot!.type).toBe('c');
    expect(boot!.bootable).toBe(true);
    expect(root!.type).toBe('83');
    expect(state!.type).toBe('83');
    // 1 MiB aligned, in order, the state partition last so it can grow to the end of the card.
    for (const p of table.partitions) expect(p.start % 2048).toBe(0);
    expect(root!.start).toBe(boot!.start + boot!.size);
    expect(state!.start).toBe(root!.start + root!.size);
  });

  it('boot partition: Pi 4 firmware, kernel, initrd, device tree, config.txt and cmdline.txt', () => {
    const listing = run('mdir', ['-b', '-i', `${IMAGE}@@${boot!.start * SECTOR}`, '::/']);
    const names = new Set(
      listing
        .split('\n')
        .map((l) => l.replace(/^::\//, '').trim())
        .filter((l) => l !== ''),
    );
    for (const f of ['start4.elf', 'fixup4.dat', 'vmlinuz', 'initrd.img', 'config.txt', 'cmdline.txt', 'bcm2711-rpi-4-b.dtb']) {
      expect(names, f).toContain(f);
    }
    const cmdline = run('mtype', ['-i', `${IMAGE}@@${boot!.start * SECTOR}`, '::cmdline.txt']);
    expect(cmdline).toMatch(/\broot=LABEL=RB_ROOT ro\b/);
    expect(cmdline).toMatch(/\bconsole=ttyS1,115200\b/);
    expect(cmdline).toMatch(/\bnet\.ifnames=0\b/);
    const config = run('mtype', ['-i', `${IMAGE}@@${boot!.start * SECTOR}`, '::config.txt']);
    expect(config).toMatch(/^arm_64bit=1$/m);
    expect(config).toMatch(/^kernel=vmlinuz$/m);
    expect(config).toMatch(/^enable_uart=1$/m);
  });

  it('root file system: labelled RB_ROOT, with rackboot, arm64 node and addons, the overlay and enabled units', () => {
    expect(run('dumpe2fs', ['-h', at(root)])).toMatch(/^Filesystem volume name:\s+RB_ROOT$/m);
    const lib = debugfs(root, 'ls -l /usr/lib/rackboot');
    for (const f of ['rackboot.mjs', 'rackboot_packet.node', 'raw.node', 'epoll.node', 'serialport.node', 'node']) expect(lib).toContain(f);
    expect(debugfs(root, 'stat /usr/lib/rackboot/node/bin/node')).toMatch(/Type: regular\s+Mode:\s+0755/);
    expect(debugfs(root, 'cat /etc/fstab')).toBe(readFileSync(join(REPO, 'rootfs-overlay/etc/fstab'), 'utf8'));
    expect(debugfs(root, 'cat /etc/rackboot/rackboot.yaml')).toBe(readFileSync(join(REPO, 'rootfs-overlay/etc/rackboot/rackboot.yaml'), 'utf8'));
    expect(debugfs(root, 'cat /etc/passwd')).toMatch(/^rackboot:x:\d+:\d+:/m);
    expect(debugfs(root, 'ls /etc/systemd/system/multi-user.target.wants')).toContain('rackboot.service');
    expect(debugfs(root, 'stat /etc/systemd/system/serial-getty@ttyS1.service')).toContain('Fast link dest: "/dev/null"');
    expect(debugfs(root, 'stat /srv/rackboot')).toContain('Fast link dest: "/var/lib/rackboot/boot"');
  });

  it('state file system: labelled RB_STATE and owned by the rackboot user', () => {
    expect(run('dumpe2fs', ['-h', at(state)])).toMatch(/^Filesystem volume name:\s+RB_STATE$/m);
    const uid = /^rackboot:x:(\d+):(\d+):/m.exec(debugfs(root, 'cat /etc/passwd'))!;
    expect(debugfs(state, 'stat /')).toMatch(new RegExp(`User:\\s+${uid[1]}\\s+Group:\\s+${uid[2]}`));
  });
});
