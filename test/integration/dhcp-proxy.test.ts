// proxyDHCP beside dnsmasq acting as the site's address server. The PXE client
// is real firmware: QEMU's iPXE option ROM (Debian ipxe-qemu), which takes its
// address from dnsmasq, sees rackboot's proxy offer, and asks rackboot's port
// 4011 for its boot file (iPXE src/net/udp/dhcp.c, "ProxyDHCP" state).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const VM_MAC = '52:54:00:78:00:01';
const CONFIG = `
interface: eth0
mode: proxy
boot:
  root: .
`;

describe('proxyDHCP beside dnsmasq', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let site: Netns;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: '10.78.0.1/24',
      prepare: async ({ lab }) => {
        site = await lab.client(undefined, '10.78.0.2/24');
        lab.startSiteDhcpServer(site, '10.78.0.100,10.78.0.150');
      },
      yaml: CONFIG,
    }));
  });

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  it('leaves ordinary DHCP clients to the site server and hands out no address', async () => {
    const ns = await lab.client();
    const { script, events } = await lab.clientScript('udhcpc', 'plain');
    await ns.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2']);
    const bound = await waitForEvent(events, /^bound /);
    expect(bound).toMatch(/^bound 10\.78\.0\.1[0-5]\d /);
    expect(server.lines.filter((l) => l.msg === 'proxy offer' || l.msg === 'lease bound')).toEqual([]);
  });

  it('gives PXE firmware (QEMU iPXE ROM) its boot file by proxy offer, and the ROM fetches its script', async () => {
    const vm = await lab.client(VM_MAC.replace(/01$/, 'fe'));
    // The VM's tap and the namespace's uplink share a bridge inside the VM namespace.
    await vm.exec(['ip', 'link', 'add', 'brvm', 'type', 'bridge', 'stp_state', '0']);
    await vm.exec(['ip', 'tuntap', 'add', 'tap0', 'mode', 'tap']);
    for (const ifname of ['eth0', 'tap0']) await vm.exec(['ip', 'link', 'set', ifname, 'master', 'brvm', 'up']);
    await vm.exec(['ip', 'link', 'set', 'brvm', 'up']);
    vm.spawn([
      'qemu-system-x86_64',
      '-machine',
      'pc',
      '-accel',
      'tcg',
      '-m',
      '128',
      '-display',
      'none',
      '-nodefaults',
      '-serial',
      'none',
      '-boot',
      'n',
      '-netdev',
      'tap,id=n0,ifname=tap0,script=no,downscript=no',
      '-device',
      `e1000,netdev=n0,mac=${VM_MAC},romfile=/usr/lib/ipxe/qemu/pxe-e1000.rom`,
    ]);
    const offer = await server.waitFor((l) => l.msg === 'proxy offer' && l.mac === VM_MAC, 90_000);
    expect(offer.bootFile).toBe('http://10.78.0.1/boot.ipxe?mac=${netX/mac}');
    // The ROM merged our boot information with dnsmasq's address and came for its script.
    // (It does not need the port 4011 step: the proxy offer already carries next-server
    // and the boot file, which is what iPXE checks; 4011 is covered by the unit tests.)
    const script = await server.waitFor((l) => l.msg === 'served boot script' && l.mac === VM_MAC, 60_000);
    expect(String(script.remote)).toMatch(/^(::ffff:)?10\.78\.0\.1[0-5]\d$/);
    const leases = existsSync(join(lab.dir, 'dnsmasq.leases')) ? await readFile(join(lab.dir, 'dnsmasq.leases'), 'utf8') : '';
    expect(leases).toContain(VM_MAC);
    expect(leases).toContain(String(script.remote).replace('::ffff:', ''));
    expect(server.lines.some((l) => l.msg === 'lease bound')).toBe(false);
  }, 180_000);
});
