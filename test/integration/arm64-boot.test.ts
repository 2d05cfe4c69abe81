// arm64 UEFI nodes on real firmware: qemu-system-aarch64 `-M virt` with AAVMF
// (EDK2's ArmVirtQemu, Debian qemu-efi-aarch64) and virtio-net, under TCG
// (test/helpers/qemu.ts, arch arm64), in full DHCP mode. Two nodes boot at once:
// - UEFI PXE (option 93 = 11): rackboot answers with arm64/grubaa64.efi over
//   TFTP; GRUB reads grub/grub.cfg and the node's generated configuration, then
//   the arm64 kernel and initrd over TFTP.
// - UEFI HTTP Boot (93 = 19): rackboot answers with the image's http:// URL;
//   GRUB asks DHCP itself and reads the same files from rackboot's HTTP server.
// Each ends with the OS calling rackboot back, read back from the REST API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ensurePayload } from '../helpers/payload.js';
import { SERIAL_LOG_DIR, VirtualNode, attachTap, type Firmware } from '../helpers/qemu.js';
import { ApiClient } from '../helpers/api-client.js';

const SERVER = '10.88.0.1';
const PXE_NODE = { mac: '52:54:00:88:00:01', name: 'arm64-pxe-node', firmware: 'uefi-pxe' as Firmware };
const HTTP_NODE = { mac: '52:54:00:88:00:02', name: 'arm64-http-node', firmware: 'uefi-http' as Firmware };
/** Firmware, GRUB, the kernel and the initrd's callback, all emulated: minutes under TCG on a busy machine. */
const BOOT_MS = 540_000;

describe('arm64 UEFI nodes boot from rackboot through GRUB', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  const vms: VirtualNode[] = [];

  beforeAll(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    const payload = await ensurePayload();
    const arm64 = join(payload.dir, 'arm64');
    for (const name of ['grubaa64.efi', 'vmlinuz', 'initrd.img']) {
      if (!existsSync(join(arm64, name))) throw new Error(`the payload has no arm64/${name} (build/payload-arm64.sh)`);
    }
    const root = join(lab.dir, 'root');
    await mkdir(join(root, 'arm64'), { recursive: true });
    for (const name of ['grubaa64.efi', 'vmlinuz', 'initrd.img']) await copyFile(join(arm64, name), join(root, 'arm64', name));
    const config = await lab.writeConfig(`
interface: eth0
lease_time: 1h
pools:
  - subnet: 10.88.0.0/24
    range: 10.88.0.100-10.88.0.150
hosts:
  - { mac: "${PXE_NODE.mac}", hostname: ${PXE_NODE.name} }
  - { mac: "${HTTP_NODE.mac}", hostname: ${HTTP_NODE.name} }
boot:
  root: ${root}
  profiles:
    default:
      kind: linux
      kernel: arm64/vmlinuz
      initrds: [arm64/initrd.img]
      cmdline: "console=ttyAMA0 rackboot.name={name} rackboot.mac={mac} rackboot.ip={ip}"
`);
    server = await lab.startServer(['--config', config]);
    api = await ApiClient.setUp(await lab.client(undefined, '10.88.0.9/24'), `http://${SERVER}`, server);
  }, 600_000);

  afterAll(async () => {
    await Promise.all(vms.map((vm) => vm.stop()));
    const code = await server?.stop();
    if (server) await writeFile(join(SERIAL_LOG_DIR, 'arm64-boot-rackboot.log'), server.lines.map((l) => JSON.stringify(l)).join('\n'));
    await lab?.destroy();
    expect(code).toBe(0);
  });

  async function boot(node: typeof PXE_NODE, nsName: string) {
    const ns = await lab.lab.namespace(nsName);
    await lab.segment.attach({ ns, ifname: 'eth0' });
    const vm = await VirtualNode.start({
      name: node.name,
      firmware: node.firmware,
      arch: 'arm64',
      ns,
      tap: await attachTap(ns),
      mac: node.mac,
      memoryMb: 1024,
      timeoutMs: BOOT_MS + 60_000,
    });
    vms.push(vm);
    const up = await vm.waitForMarker(BOOT_MS);
    const view = await api.waitForNode(node.mac, (n) => n.stage === 'booted' && n.diagnosisDetail === 'the OS called back', 180_000);
    await vm.stop();
    const lease = server.lines.filter((l) => l.msg === 'lease bound' && l.mac === node.mac).at(-1);
    const stages = (await api.timeline(node.mac)).filter((e) => e.type === 'stage').map((e) => e.stage);
    return { up, view, lease, stages };
  }

  it(
    'boots arm64 GRUB, kernel and initrd over UEFI PXE and over UEFI HTTP Boot, and the OS calls back',
    async () => {
      const [pxe, http] = await Promise.all([boot(PXE_NODE, 'arm64_pxe'), boot(HTTP_NODE, 'arm64_http')]);
      for (const [node, result] of [
        [PXE_NODE, pxe],
        [HTTP_NODE, http],
      ] as const) {
        expect(result.view).toMatchObject({ name: node.name, stage: 'booted', diagnosis: 'booted', diagnosisDetail: 'the OS called back' });
        expect(result.lease).toBeDefined();
        expect(result.up.cmdline).toContain(`rackboot.name=${node.name}`);
        expect(result.up.cmdline).toContain(`rackboot.mac=${node.mac}`);
        expect(result.up.cmdline).toContain(`rackboot.ip=${String(result.lease!.ip)}`);
        expect(result.up.cmdline).toContain(`rackboot.booted=http://${SERVER}/api/v1/booted?mac=${node.mac}`);
        console.log(`${node.name} up after ${result.up.elapsedMs} ms; stages: ${result.stages.join(' > ')}`);
      }
      expect(pxe.stages).toEqual(expect.arrayContaining(['dhcp_discover', 'acknowledged', 'nbp_tftp', 'script', 'kernel', 'initrd', 'booted']));
      // The initrd is not in this list: GRUB starts the kernel as soon as its last block is in, and its last ACK
      // may never leave, so that transfer may still be open here (the initrd stage and the marker prove it arrived).
      const pxeFiles = server.lines.filter((l) => l.msg === 'tftp transfer done' && String(l.client) === String(pxe.lease!.ip)).map((l) => String(l.filename));
      expect(pxeFiles).toEqual(expect.arrayContaining(['arm64/grubaa64.efi', '/grub/grub.cfg', `/grub/node-${PXE_NODE.mac}.cfg`, '/arm64/vmlinuz']));
      expect(http.stages).toEqual(expect.arrayContaining(['dhcp_discover', 'acknowledged', 'kernel', 'initrd', 'booted']));
      // After HTTP Boot everything, GRUB's configurations included, came over HTTP: nothing over TFTP.
      const httpIp = String(http.lease!.ip);
      const httpFiles = server.lines.filter((l) => l.msg === 'http download done' && String(l.client) === httpIp).map((l) => String(l.path));
      expect(httpFiles).toEqual(expect.arrayContaining(['/arm64/grubaa64.efi', '/arm64/vmlinuz']));
      expect(server.lines.filter((l) => String(l.msg).startsWith('tftp') && String(l.client) === httpIp)).toEqual([]);
    },
    2 * BOOT_MS + 300_000,
  );
});
