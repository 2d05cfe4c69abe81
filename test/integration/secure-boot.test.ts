// Secure Boot on real firmware: OVMF built with Secure Boot, Microsoft's keys
// enrolled and Secure Boot enforced (test/helpers/qemu.ts, secureBoot), in
// full DHCP mode. Two nodes boot at once:
// - loader grub: rackboot hands the firmware Debian's signed shim over TFTP,
//   shim loads Debian's signed GRUB beside it, GRUB reads the node's generated
//   configuration and Debian's signed kernel + initrd over TFTP, and the OS
//   calls rackboot back: the REST API reports it booted, through the script,
//   kernel and initrd stages.
// - loader ipxe: Debian's unsigned snponly.efi is read whole, the firmware
//   refuses it ("Access Denied") and asks DHCP again; rackboot diagnoses
//   secure_boot_refused. That the unsigned program is refused is what shows the
//   firmware really enforces Secure Boot.
// UEFI HTTP Boot is not tested with GRUB: Debian's signed GRUB gets no network
// configuration after HTTP Boot (docs/firmware.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ensurePayload } from '../helpers/payload.js';
import { SERIAL_LOG_DIR, VirtualNode, attachTap } from '../helpers/qemu.js';
import { ApiClient } from '../helpers/api-client.js';

const SERVER = '10.87.0.1';
const GRUB_NODE = { mac: '52:54:00:87:00:01', name: 'sb-grub-node' };
const IPXE_NODE = { mac: '52:54:00:87:00:02', name: 'sb-ipxe-node' };

describe('UEFI Secure Boot nodes boot from rackboot', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  const vms: VirtualNode[] = [];

  beforeAll(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    const payload = await ensurePayload();
    if (!payload.shim || !payload.grub) throw new Error(`the payload in ${payload.dir} has no shimx64.efi/grubx64.efi (build/payload.sh)`);
    const root = join(lab.dir, 'root');
    await mkdir(root);
    for (const file of [payload.kernel, payload.initrd, payload.snponly, payload.shim, payload.grub]) {
      if (file) await copyFile(file, join(root, basename(file)));
    }
    const config = await lab.writeConfig(`
interface: eth0
lease_time: 1h
pools:
  - subnet: 10.87.0.0/24
    range: 10.87.0.100-10.87.0.150
hosts:
  - { mac: "${GRUB_NODE.mac}", hostname: ${GRUB_NODE.name}, loader: grub }
  - { mac: "${IPXE_NODE.mac}", hostname: ${IPXE_NODE.name} }
boot:
  root: ${root}
  loader: ipxe
  profiles:
    default:
      kind: linux
      kernel: vmlinuz
      initrds: [initrd.img]
      cmdline: "console=ttyS0 rackboot.name={name} rackboot.mac={mac} rackboot.ip={ip}"
`);
    server = await lab.startServer(['--config', config]);
    api = await ApiClient.setUp(await lab.client(undefined, '10.87.0.9/24'), `http://${SERVER}`, server);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(vms.map((vm) => vm.stop()));
    const code = await server?.stop();
    if (server) await writeFile(join(SERIAL_LOG_DIR, 'secure-boot-rackboot.log'), server.lines.map((l) => JSON.stringify(l)).join('\n'));
    await lab?.destroy();
    expect(code).toBe(0);
  });

  async function startVm(node: { mac: string; name: string }, nsName: string): Promise<VirtualNode> {
    const ns = await lab.lab.namespace(nsName);
    await lab.segment.attach({ ns, ifname: 'eth0' });
    const vm = await VirtualNode.start({
      name: `secureboot-${node.name}`,
      firmware: 'uefi-pxe',
      secureBoot: true,
      ns,
      tap: await attachTap(ns),
      mac: node.mac,
      memoryMb: 512,
      timeoutMs: 230_000,
    });
    vms.push(vm);
    return vm;
  }

  it('boots shim + GRUB + the signed kernel, and refuses and diagnoses unsigned iPXE', async () => {
    const [grubVm, ipxeVm] = await Promise.all([startVm(GRUB_NODE, 'secureboot_grub'), startVm(IPXE_NODE, 'secureboot_ipxe')]);

    const signed = (async () => {
      const up = await grubVm.waitForMarker(220_000);
      const view = await api.waitForNode(GRUB_NODE.mac, (n) => n.stage === 'booted' && n.diagnosisDetail === 'the OS called back', 120_000);
      await grubVm.stop();
      return { up, view };
    })();
    const unsigned = (async () => {
      // The firmware says so on its console, and rackboot concludes it from what it served.
      await ipxeVm.waitForSerial(/Access Denied/, 200_000, { untilGaveUp: false });
      const deadline = Date.now() + 120_000;
      for (;;) {
        const events = await api.timeline(IPXE_NODE.mac);
        const refused = events.find((e) => e.type === 'diagnosis' && e.diagnosis === 'secure_boot_refused');
        if (refused) {
          await ipxeVm.stop();
          return { refused, events };
        }
        if (Date.now() > deadline) throw new Error(`no secure_boot_refused diagnosis; timeline:\n${events.map((e) => e.message).join('\n')}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
    const [{ up, view }, { refused, events }] = await Promise.all([signed, unsigned]);

    expect(view).toMatchObject({ name: GRUB_NODE.name, stage: 'booted', diagnosis: 'booted', diagnosisDetail: 'the OS called back' });
    const stages = (await api.timeline(GRUB_NODE.mac)).filter((e) => e.type === 'stage').map((e) => e.stage);
    expect(stages).toEqual(expect.arrayContaining(['dhcp_discover', 'acknowledged', 'nbp_tftp', 'script', 'kernel', 'initrd', 'booted']));
    const lease = server.lines.filter((l) => l.msg === 'lease bound' && l.mac === GRUB_NODE.mac).at(-1);
    expect(lease).toBeDefined();
    expect(up.cmdline).toContain(`rackboot.name=${GRUB_NODE.name}`);
    expect(up.cmdline).toContain(`rackboot.mac=${GRUB_NODE.mac}`);
    expect(up.cmdline).toContain(`rackboot.ip=${String(lease!.ip)}`);
    expect(up.cmdline).toContain(`rackboot.booted=http://${SERVER}/api/v1/booted?mac=${GRUB_NODE.mac}`);
    const grubFiles = server.lines.filter((l) => l.msg === 'tftp transfer done' && String(l.client) === String(lease!.ip)).map((l) => String(l.filename));
    expect(grubFiles).toEqual(
      expect.arrayContaining(['shimx64.efi', 'grubx64.efi', '/grub/grub.cfg', `/grub/node-${GRUB_NODE.mac}.cfg`, '/vmlinuz', '/initrd.img']),
    );
    console.log(`grub node up after ${up.elapsedMs} ms; TFTP: ${grubFiles.join(', ')}; stages: ${stages.join(' > ')}`);

    expect(refused.detail).toBeDefined();
    expect(JSON.stringify(refused)).toMatch(/snponly\.efi/);
    // The unsigned program never got as far as iPXE's own DHCP or a script.
    expect(events.filter((e) => e.type === 'stage').map((e) => e.stage)).not.toContain('script');
    console.log(`ipxe node: ${refused.message}`);
  }, 300_000);
});
