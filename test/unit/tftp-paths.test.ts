// Boot-root confinement: a table of hostile and ordinary names (pure checks),
// then symlinks, directories and special files on a real temporary tree.
import { BootRoot } from '../../firmware/src/boot-policy/boot-root.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWithinRoot, resolveBootPath } from '../../firmware/src/tftp/paths.js';
import { TftpError } from '../../firmware/src/tftp/codec.js';

const ROOT = '/srv/tftp';

describe('resolveBootPath', () => {
  const accepted: [string, string][] = [
    ['pxelinux.0', 'pxelinux.0'],
    ['/pxelinux.0', 'pxelinux.0'], // tftp-hpa -s: one leading slash means the root
    ['//grubx64.efi', 'grubx64.efi'], // shim: the directory it came from ("/") joined with "/grubx64.efi"
    ['//etc/passwd', 'etc/passwd'], // still inside the root
    ['undionly.kpxe', 'undionly.kpxe'],
    ['efi64/snponly.efi', 'efi64/snponly.efi'],
    ['pxelinux.cfg/01-52-54-00-aa-bb-cc', 'pxelinux.cfg/01-52-54-00-aa-bb-cc'],
    ['pxelinux.cfg/C0A8010A', 'pxelinux.cfg/C0A8010A'],
    ['pxelinux.cfg/C0A801', 'pxelinux.cfg/C0A801'],
    ['/pxelinux.cfg/default', 'pxelinux.cfg/default'],
    ['./boot/./vmlinuz', 'boot/vmlinuz'],
    ['boot//initrd.img', 'boot/initrd.img'],
    ['...', '...'],
    ['..hidden', '..hidden'],
    ['a..b', 'a..b'],
    ['%2e%2e/etc/passwd', '%2e%2e/etc/passwd'], // TFTP has no escapes: a literal (harmless) name
    ['name with spaces.cfg', 'name with spaces.cfg'],
    ['a'.repeat(255), 'a'.repeat(255)],
  ];
  for (const [requested, relative] of accepted) {
    it(`accepts ${JSON.stringify(requested.length > 40 ? requested.slice(0, 12) + '...' : requested)}`, () => {
      expect(resolveBootPath(ROOT, requested)).toEqual({ ok: true, relative, path: `${ROOT}/${relative}` });
    });
  }

  const refused: [string, number, RegExp][] = [
    ['', TftpError.FileNotFound, /empty file name/],
    ['..', TftpError.AccessViolation, /'\.\.' segment/],
    ['../etc/passwd', TftpError.AccessViolation, /'\.\.' segment/],
    ['/../etc/passwd', TftpError.AccessViolation, /'\.\.' segment/],
    ['boot/../../etc/shadow', TftpError.AccessViolation, /'\.\.' segment/],
    ['boot/..', TftpError.AccessViolation, /'\.\.' segment/],
    ['boot/../pxelinux.0', TftpError.AccessViolation, /'\.\.' segment/], // even when it would stay inside
    ['boot\\..\\..\\etc\\passwd', TftpError.AccessViolation, /backslash/],
    ['\\pxelinux.0', TftpError.AccessViolation, /backslash/],
    ['Boot\\x64\\wdsnbp.com', TftpError.AccessViolation, /backslash/],
    ['pxelinux.0\0.cfg', TftpError.AccessViolation, /NUL/],
    ['\0', TftpError.AccessViolation, /NUL/],
    ['pxelinux.0\n', TftpError.AccessViolation, /control character 0x0a/],
    ['a\rb', TftpError.AccessViolation, /control character 0x0d/],
    ['\x1b[31mred', TftpError.AccessViolation, /control character 0x1b/],
    ['tab\there', TftpError.AccessViolation, /control character 0x09/],
    ['del\x7f', TftpError.AccessViolation, /control character 0x7f/],
    ['caf\xe9.cfg', TftpError.AccessViolation, /non-ASCII/],
    ['\xc0\xae\xc0\xae/etc/passwd', TftpError.AccessViolation, /non-ASCII/], // overlong UTF-8 '..'
    ['a'.repeat(256), TftpError.AccessViolation, /longer than 255/],
    ['pxelinux.cfg/', TftpError.AccessViolation, /names a directory/],
    ['/', TftpError.AccessViolation, /names a directory/],
    ['.', TftpError.AccessViolation, /boot root directory/],
    ['./.', TftpError.AccessViolation, /boot root directory/],
  ];
  for (const [requested, code, reason] of refused) {
    it(`refuses ${JSON.stringify(requested.length > 40 ? requested.slice(0, 12) + '...' : requested)} with error ${code}`, () => {
      const result = resolveBootPath(ROOT, requested);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.code).toBe(code);
      expect(result.reason).toMatch(reason);
    });
  }
});

describe('openWithinRoot', () => {
  let base: string;
  let root: string;

  beforeAll(async () => {
    base = await realpath(await mkdtemp(join(tmpdir(), 'rackboot-paths-')));
    root = join(base, 'root');
    await mkdir(join(root, 'pxelinux.cfg'), { recursive: true });
    await mkdir(join(root, 'profiles'));
    await mkdir(join(base, 'outside'));
    await writeFile(join(root, 'pxelinux.0'), 'loader');
    await writeFile(join(root, 'profiles', 'compute'), 'DEFAULT compute\n');
    await writeFile(join(base, 'outside', 'secret'), 'secret');
    await symlink('../profiles/compute', join(root, 'pxelinux.cfg', '01-52-54-00-aa-bb-cc'));
    await symlink(join(base, 'outside', 'secret'), join(root, 'escape'));
    await symlink('../outside', join(root, 'escape-dir'));
    await symlink('/etc', join(root, 'etc'));
    await symlink('loop-b', join(root, 'loop-a'));
    await symlink('loop-a', join(root, 'loop-b'));
    await symlink('root', join(base, 'root-link'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
  });

  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('opens a plain file', async () => {
    expect(await openWithinRoot(new BootRoot(root), 'pxelinux.0')).toEqual({
      ok: true,
      path: join(root, 'pxelinux.0'),
      size: 6,
      mtimeMs: expect.any(Number) as number,
    });
  });

  it('follows a symlink that stays inside the root (pxelinux.cfg/01-<mac> -> profile)', async () => {
    expect(await openWithinRoot(new BootRoot(root), 'pxelinux.cfg/01-52-54-00-aa-bb-cc')).toMatchObject({ ok: true, path: join(root, 'profiles', 'compute') });
  });

  it('works when the root itself is reached through a symlink', async () => {
    expect(await openWithinRoot(new BootRoot(join(base, 'root-link')), 'pxelinux.0')).toMatchObject({ ok: true, path: join(root, 'pxelinux.0') });
  });

  const refusals: [string, number, RegExp][] = [
    ['missing.efi', TftpError.FileNotFound, /file not found/],
    ['nodir/x', TftpError.FileNotFound, /file not found/],
    ['pxelinux.0/x', TftpError.FileNotFound, /file not found/],
    ['escape', TftpError.AccessViolation, /outside the boot root/],
    ['escape-dir/secret', TftpError.AccessViolation, /outside the boot root/],
    ['etc/passwd', TftpError.AccessViolation, /outside the boot root/],
    ['loop-a', TftpError.AccessViolation, /too many symlinks/],
    ['pxelinux.cfg', TftpError.AccessViolation, /is a directory/],
    ['fifo', TftpError.AccessViolation, /not a regular file/],
  ];
  for (const [relative, code, reason] of refusals) {
    it(`refuses ${relative} with error ${code}`, async () => {
      const result = await openWithinRoot(new BootRoot(root), relative);
      expect(result).toMatchObject({ ok: false, code });
      if (!result.ok) expect(result.reason).toMatch(reason);
    });
  }

  it('checks on disk even what the string checks would have refused', async () => {
    expect(await openWithinRoot(new BootRoot(root), '../outside/secret')).toMatchObject({ ok: false, code: TftpError.AccessViolation });
  });
});
