// The storm's pure parts: firmware mix, MACs, reading rackboot's own iPXE
// scripts, the summary and the SVG timeline.
import { describe, expect, it } from 'vitest';
import { assignFirmware, parseFirmwareMix, stormMac } from '../../firmware/src/storm/firmware-mix.js';
import { readIpxeScript } from '../../firmware/src/storm/ipxe-script-reader.js';
import { formatReport, progressLine, summarize } from '../../firmware/src/storm/report.js';
import { timelineSvg } from '../../firmware/src/storm/timeline-svg.js';
import type { NodeResult } from '../../firmware/src/storm/virtual-node.js';
import { ipxeScriptFor } from '../../firmware/src/http/ipxe-script.js';

describe('firmware mix', () => {
  it('interleaves kinds by weight, deterministically', () => {
    const mix = parseFirmwareMix('bios-pxe:3,uefi-pxe:1');
    const kinds = assignFirmware(mix, 8);
    expect(kinds.filter((k) => k === 'bios-pxe')).toHaveLength(6);
    expect(kinds.filter((k) => k === 'uefi-pxe')).toHaveLength(2);
    expect(kinds.slice(0, 4)).toContain('uefi-pxe');
    expect(assignFirmware(mix, 8)).toEqual(kinds);
  });

  it('refuses unknown firmware and bad weights with the accepted names', () => {
    expect(() => parseFirmwareMix('bios')).toThrow(/bios-pxe, uefi-pxe, ipxe, uefi-http/);
    expect(() => parseFirmwareMix('ipxe:0')).toThrow(/weight/);
    expect(() => parseFirmwareMix('')).toThrow(/empty/);
  });

  it('gives locally administered MACs with the run byte and the index', () => {
    expect(stormMac(0x5a, 0)).toBe('02:72:62:5a:00:00');
    expect(stormMac(1, 300)).toBe('02:72:62:01:01:2c');
    expect(() => stormMac(1, 70_000)).toThrow(RangeError);
  });
});

describe('iPXE script reader', () => {
  it("finds the kernel and initrds in rackboot's own generated script", () => {
    const script = ipxeScriptFor(
      { kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd.img', 'extra/modules.cpio'], cmdline: 'console=ttyS0' },
      { profiles: {}, node: { name: 'n1', mac: '02:72:62:00:00:01', ip: '10.0.0.5' }, serverBase: 'http://10.0.0.1' },
    );
    const plan = readIpxeScript(script, 'http://10.0.0.1/boot.ipxe?mac=02:72:62:00:00:01', { mac: '02:72:62:00:00:01', ip: '10.0.0.5', platform: 'pcbios' });
    expect(plan.kernel).toBe('http://10.0.0.1/vmlinuz');
    expect(plan.initrds).toEqual(['http://10.0.0.1/initrd.img', 'http://10.0.0.1/extra/modules.cpio']);
    expect(plan.boots).toBe(true);
  });

  it('follows chain to another script and expands ${netX/mac}', () => {
    const plan = readIpxeScript('#!ipxe\nchain http://s/boot.ipxe?mac=${netX/mac} || goto failed\n:failed\nshell\n', 'http://s/', {
      mac: 'aa:bb:cc:dd:ee:ff',
      ip: '1.2.3.4',
      platform: 'efi',
    });
    expect(plan.chain).toBe('http://s/boot.ipxe?mac=aa:bb:cc:dd:ee:ff');
  });

  it('refuses what is not an iPXE script', () => {
    expect(() => readIpxeScript('<html>', 'http://s/', { mac: '', ip: '', platform: 'efi' })).toThrow(/not an iPXE script/);
  });
});

function node(index: number, outcome: NodeResult['outcome'], finishedAt: number): NodeResult {
  return {
    index,
    mac: stormMac(0, index),
    firmware: index % 2 ? 'uefi-pxe' : 'bios-pxe',
    outcome,
    detail: outcome === 'booted' ? 'booted' : 'PXE-E51: no offer',
    poweredOnAt: index * 100,
    finishedAt,
    stages: [
      { stage: 'power_on', at: index * 100 },
      { stage: 'dhcp_discover', at: index * 100 },
      { stage: 'nbp_tftp', at: index * 100 + 500 },
      ...(outcome === 'booted'
        ? [
            { stage: 'kernel' as const, at: finishedAt - 300 },
            { stage: 'booted' as const, at: finishedAt },
          ]
        : []),
    ],
    bytes: { nbp: 1000, script: 100, kernel: outcome === 'booted' ? 5000 : 0, initrd: 0 },
    dhcpTransmissions: 4,
    tftpRetransmits: 1,
  };
}

describe('report', () => {
  const nodes = [node(0, 'booted', 3000), node(1, 'booted', 5100), node(2, 'no_offer', 60_200)];

  it('summarizes outcomes, the time to the last booted node and failures by diagnosis', () => {
    const s = summarize(nodes);
    expect(s).toMatchObject({ nodes: 3, booted: 2, failed: 1, timeToLastBootedMs: 5100, durationMs: 60_200, failuresByDiagnosis: { no_offer: 1 } });
    expect(s.bootTimeMs).toEqual({ min: 3000, median: 5000, p95: 5000, max: 5000 });
    expect(s.byFirmware).toEqual({ 'bios-pxe': { nodes: 2, booted: 1 }, 'uefi-pxe': { nodes: 1, booted: 1 } });
    expect(s.bytes.kernel).toBe(10_000);
    const text = formatReport({ tool: 'rackboot storm', version: 't', startedAt: '', options: {}, summary: s, nodes });
    expect(text).toMatch(/booted: 2\/3 {3}time until the last node booted: 5\.1 s/);
    expect(text).toMatch(/failures by diagnosis: no_offer 1/);
    expect(text).toMatch(/PXE-E51/);
  });

  it('draws one coloured stretch per stage and a cross for the failed node', () => {
    const svg = timelineSvg(nodes, 'test <storm>');
    expect(svg).toContain('test &#60;storm&#62;');
    expect(svg.match(/<rect [^>]*><title>node 0 /g)).toHaveLength(3); // dhcp_discover, nbp_tftp, kernel: power_on lasts 0 ms and booted is an end
    expect(svg).toContain('node 2: no_offer');
  });

  it('shows progress as finished over all, with the stages in flight', () => {
    expect(progressLine(12_000, ['booted', 'failed', 'kernel', 'kernel'], 10)).toBe('[#####.....] 1/4 booted, 1 failed  12 s  kernel 2');
  });
});
