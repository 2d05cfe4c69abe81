// GRUB configurations generated per node (boot-policy/grub-config.ts), the
// loader choice (boot-policy/loader.ts) and the DHCP answer for GRUB nodes.
import { describe, expect, it } from 'vitest';
import { grubEntryConfig, grubFileName, grubNodeConfig, grubWord } from '../../firmware/src/boot-policy/grub-config.js';
import { loaderPolicy } from '../../firmware/src/boot-policy/loader.js';
import { ipxeBooter } from '../../firmware/src/boot-policy/booter.js';
import type { ProfileConfig } from '../../firmware/src/config/schema.js';
import type { ClientKind } from '../../firmware/src/model/boot.js';

const NODE = { name: 'node01', mac: '52:54:00:00:00:01', ip: '10.0.0.11' };
const LINUX: ProfileConfig = {
  kind: 'linux',
  kernel: 'debian/vmlinuz',
  initrds: ['debian/initrd.img', 'ucode.img'],
  cmdline: 'console=ttyS0 host={name} ip={ip}',
};

describe('GRUB file names', () => {
  it('knows the entry file and both per-node spellings; nothing else', () => {
    expect(grubFileName('grub/grub.cfg')).toEqual({ kind: 'entry' });
    expect(grubFileName('grub/node-52:54:00:AA:bb:01.cfg')).toEqual({ kind: 'node', mac: '52:54:00:aa:bb:01' });
    expect(grubFileName('grub/grub.cfg-01-52-54-00-aa-bb-01')).toEqual({ kind: 'node', mac: '52:54:00:aa:bb:01' });
    for (const name of [
      'grub.cfg',
      'grub/x86_64-efi/command.lst',
      'grub/node-zz:54:00:aa:bb:01.cfg',
      'grub/node-52:54:00:aa:bb:01.cfg.bak',
      'grub/grub.cfg-C0A8000B',
    ]) {
      expect(grubFileName(name), name).toBeUndefined();
    }
  });
});

describe('GRUB configurations', () => {
  it('the entry sends every node to its own file by the MAC GRUB knows', () => {
    expect(grubEntryConfig()).toContain('configfile "$prefix/node-${net_default_mac}.cfg"');
  });

  it('a linux profile: kernel with the node fields and the callback last, every initrd, boot, and a reboot if that fails', () => {
    const { text, unknownPlaceholders } = grubNodeConfig(LINUX, {
      node: NODE,
      profileName: 'compute',
      serverBase: 'http://10.0.0.1',
      bootedUrl: 'http://10.0.0.1/api/v1/booted?mac=52:54:00:00:00:01',
    });
    expect(unknownPlaceholders).toEqual([]);
    const lines = text.split('\n');
    expect(lines).toContain(
      "linux '/debian/vmlinuz' 'console=ttyS0' 'host=node01' 'ip=10.0.0.11' 'rackboot.booted=http://10.0.0.1/api/v1/booted?mac=52:54:00:00:00:01'",
    );
    expect(lines).toContain("initrd '/debian/initrd.img' '/ucode.img'");
    expect(lines.indexOf('boot')).toBeGreaterThan(lines.findIndex((l) => l.startsWith('initrd ')));
    expect(lines.at(-2)).toBe('reboot');
  });

  it('values cannot break out of their word: quotes, variables, semicolons and line breaks stay text', () => {
    const hostile = { ...NODE, name: "x'; reboot; echo '${root}\nlinux /evil" };
    const { text } = grubNodeConfig({ ...LINUX, cmdline: 'name={name}' }, { node: hostile, profileName: 'compute', serverBase: 'http://10.0.0.1' });
    const linux = text.split('\n').find((l) => l.startsWith('linux '))!;
    // Every word is single-quoted (GRUB joins them with blanks again); a quote inside is closed, escaped and reopened.
    expect(linux).toBe(`linux '/debian/vmlinuz' 'name=x'\\'';' 'reboot;' 'echo' ''\\''\${root}' 'linux' '/evil'`);
    expect(text.split('\n').filter((l) => l.startsWith('linux '))).toHaveLength(1);
    expect(grubWord("it's")).toBe(`'it'\\''s'`);
  });

  it('a local profile returns to the firmware; unknown placeholders are reported', () => {
    expect(grubNodeConfig({ kind: 'local' }, { node: NODE, profileName: 'disk', serverBase: 'http://10.0.0.1' }).text.split('\n')).toContain('exit');
    expect(grubNodeConfig({ ...LINUX, cmdline: 'x={hostname}' }, { node: NODE, profileName: 'p', serverBase: 'http://10.0.0.1' }).unknownPlaceholders).toEqual([
      'hostname',
    ]);
  });
});

describe('loader choice and the DHCP answer', () => {
  const profiles: Record<string, ProfileConfig> = {
    compute: LINUX,
    secure: { ...LINUX, loader: 'grub' },
    menu: { kind: 'menu', items: [{ profile: 'compute', label: 'x' }], timeout: 5 },
  };
  const profileOf = new Map<string, string>([
    ['52:54:00:00:00:01', 'compute'],
    ['52:54:00:00:00:02', 'secure'],
    ['52:54:00:00:00:03', 'secure'],
    ['52:54:00:00:00:04', 'menu'],
  ]);
  const loaderOf = loaderPolicy({
    hosts: [
      { mac: '52:54:00:00:00:01', loader: 'grub' },
      { mac: '52:54:00:00:00:03', loader: 'ipxe' },
      { mac: '52:54:00:00:00:04', loader: 'grub' },
    ],
    profiles,
    defaultLoader: 'ipxe',
    profileOf: (mac) => profileOf.get(mac) ?? 'compute',
  });

  it('host wins, then profile, then boot.loader; menu and chain profiles always get iPXE', () => {
    expect(loaderOf('52:54:00:00:00:01')).toBe('grub');
    expect(loaderOf('52:54:00:00:00:02')).toBe('grub');
    expect(loaderOf('52:54:00:00:00:03')).toBe('ipxe');
    expect(loaderOf('52:54:00:00:00:04')).toBe('ipxe');
    expect(loaderOf('52:54:00:00:00:09')).toBe('ipxe');
  });

  it('a GRUB node gets shim over TFTP as UEFI x64 PXE, iPXE (and a warning) as anything else', () => {
    const warnings: string[] = [];
    const booter = ipxeBooter({ serverAddress: '10.0.0.1', httpPort: 80 }, { loaderOf, onGrubUnavailable: (mac, kind) => warnings.push(`${mac} ${kind}`) });
    const client = (kind: ClientKind) => ({ kind, isIpxe: kind === 'ipxe' });
    expect(booter.answer(client('uefi-x64-pxe'), '52:54:00:00:00:02')).toEqual({
      bootFile: 'shimx64.efi',
      nextServer: '10.0.0.1',
      vendorClass: 'PXEClient',
      pxeVendorOptions: 'boot-file',
    });
    expect(booter.answer(client('uefi-x64-pxe'), '52:54:00:00:00:09')?.bootFile).toBe('snponly.efi');
    expect(booter.answer(client('bios-pxe'), '52:54:00:00:00:02')?.bootFile).toBe('undionly.kpxe');
    expect(booter.answer(client('uefi-x64-http'), '52:54:00:00:00:02')?.bootFile).toBe('http://10.0.0.1/snponly.efi');
    expect(booter.answer(client('plain'), '52:54:00:00:00:02')).toBeUndefined();
    expect(warnings).toEqual(['52:54:00:00:00:02 bios-pxe', '52:54:00:00:00:02 uefi-x64-http']);
  });

  it('an arm64 UEFI node gets the arm64 GRUB image whatever its loader: over TFTP after PXE, as a URL for HTTP Boot', () => {
    const warnings: string[] = [];
    const booter = ipxeBooter({ serverAddress: '10.0.0.1', httpPort: 80 }, { loaderOf, onGrubUnavailable: (mac, kind) => warnings.push(`${mac} ${kind}`) });
    const client = (kind: ClientKind) => ({ kind, isIpxe: false });
    for (const mac of ['52:54:00:00:00:02', '52:54:00:00:00:09']) {
      expect(booter.answer(client('uefi-arm64-pxe'), mac)).toEqual({
        bootFile: 'arm64/grubaa64.efi',
        nextServer: '10.0.0.1',
        vendorClass: 'PXEClient',
        pxeVendorOptions: 'boot-file',
      });
      expect(booter.answer(client('uefi-arm64-http'), mac)).toEqual({
        bootFile: 'http://10.0.0.1/arm64/grubaa64.efi',
        vendorClass: 'HTTPClient',
        pxeVendorOptions: false,
      });
    }
    // Without a loader choice (the DHCP server's tests), the same.
    expect(ipxeBooter({ serverAddress: '10.0.0.1', httpPort: 8080 }).answer(client('uefi-arm64-http'), '52:54:00:00:00:02')?.bootFile).toBe(
      'http://10.0.0.1:8080/arm64/grubaa64.efi',
    );
    expect(warnings).toEqual([]);
  });
});
