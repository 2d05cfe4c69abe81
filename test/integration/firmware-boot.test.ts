// Real firmware boots from rackboot (full DHCP mode): QEMU's BIOS with the
// e1000 iPXE option ROM, OVMF's own UEFI PXE client, and OVMF's UEFI HTTP Boot.
// Each VM must come up with its own per-node kernel command line, which only
// rackboot's generated iPXE script can give it. Runs the three in parallel.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ensurePayload } from '../helpers/payload.js';
import { VirtualNode, attachTap, type Firmware } from '../helpers/qemu.js';

const SERVER = '10.85.0.1';
const NODES: { firmware: Firmware; mac: string; name: string }[] = [
  { firmware: 'bios-ipxe', mac: '52:54:00:85:00:01', name: 'bios-node' },
  { firmware: 'uefi-pxe', mac: '52:54:00:85:00:02', name: 'uefi-pxe-node' },
  { firmware: 'uefi-http', mac: '52:54:00:85:00:03', name: 'uefi-http-node' },
];

describe('real firmware boots from rackboot', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  const vms: VirtualNode[] = [];

  beforeAll(async () => {
    const payload = await ensurePayload();
    lab = await DhcpLab.create(`${SERVER}/24`);
    const root = join(lab.dir, 'root');
    await mkdir(root);
    for (const file of [payload.kernel, payload.initrd, payload.undionly, payload.ipxeEfi, payload.snponly]) {
      if (file) await copyFile(file, join(root, basename(file)));
    }
    const config = await lab.writeConfig(`
interface: eth0
lease_time: 1h
pools:
  - subnet: 10.85.0.0/24
    range: 10.85.0.100-10.85.0.150
hosts:
${NODES.map((n) => `  - { mac: "${n.mac}", hostname: ${n.name} }`).join('\n')}
boot:
  root: ${root}
  profiles:
    default:
      kind: linux
      kernel: vmlinuz
      initrds: [initrd.img]
      cmdline: "console=ttyS0 rackboot.name={name} rackboot.mac={mac} rackboot.ip={ip}"
`);
    server = await lab.startServer(['--config', config]);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(vms.map((vm) => vm.stop()));
    const code = await server?.stop();
    await lab?.destroy();
    expect(code).toBe(0);
  });

  it('boots BIOS iPXE, UEFI PXE and UEFI HTTP Boot nodes, each with its own command line', async () => {
    const results = await Promise.all(
      NODES.map(async (node) => {
        const ns = await lab.lab.namespace(node.firmware.replace('-', '_'));
        await lab.segment.attach({ ns, ifname: 'eth0' });
        const vm = await VirtualNode.start({
          name: `rackboot-${node.firmware}`,
          firmware: node.firmware,
          ns,
          tap: await attachTap(ns),
          mac: node.mac,
          timeoutMs: 280_000,
        });
        vms.push(vm);
        const up = await vm.waitForMarker(270_000);
        await vm.stop();
        return { node, up };
      }),
    );
    for (const { node, up } of results) {
      const lease = server.lines.filter((l) => l.msg === 'lease bound' && l.mac === node.mac).at(-1);
      expect(lease, `${node.firmware}: no lease`).toBeDefined();
      expect(up.cmdline, node.firmware).toContain(`rackboot.name=${node.name}`);
      expect(up.cmdline, node.firmware).toContain(`rackboot.mac=${node.mac}`);
      expect(up.cmdline, node.firmware).toContain(`rackboot.ip=${lease!.ip}`);
      const dhcpTransactions = server.lines.filter((l) => l.msg === 'lease bound' && l.mac === node.mac).length;
      console.log(`${node.firmware.padEnd(9)} up after ${up.elapsedMs} ms, ${dhcpTransactions} DHCP ACK(s); cmdline: ${up.cmdline}`);
    }
  }, 300_000);
});
