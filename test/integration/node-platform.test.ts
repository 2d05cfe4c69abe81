// A node's architecture and boot loader as the REST API shows them, from real
// DHCP: udhcpc in a namespace sends what UEFI firmware sends (option 60
// PXEClient/HTTPClient with the arch, option 93), and the node's view says the
// platform that firmware announced and the loader the boot policy hands it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ApiClient } from '../helpers/api-client.js';

const SERVER = '10.87.0.1';
const NODES = {
  uefi: '52:54:00:87:00:01',
  grub: '52:54:00:87:00:02',
  bios: '52:54:00:87:00:03',
};
/** What OVMF's PXE sends: x64 UEFI, option 93 = 7. */
const UEFI_X64_PXE = ['-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007'];
/** What a BIOS PXE ROM sends: option 93 = 0. */
const X86_BIOS_PXE = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000'];
/** What arm64 UEFI HTTP Boot sends: option 93 = 19. */
const UEFI_ARM64_HTTP = ['-V', 'HTTPClient:Arch:00019:UNDI:003000', '-x', '0x5d:0013'];

describe("a node's architecture and loader in the API, from its firmware's DHCP", () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      files: { vmlinuz: Buffer.alloc(1024), 'initrd.img': Buffer.alloc(1024) },
      yaml: ({ root }) => `
interface: eth0
pools:
  - subnet: 10.87.0.0/24
    range: 10.87.0.100-10.87.0.150
hosts:
  - { mac: "${NODES.uefi}", hostname: uefi-node }
  - { mac: "${NODES.grub}", hostname: grub-node, loader: grub }
  - { mac: "${NODES.bios}", hostname: bios-node, loader: grub }
boot:
  root: ${root}
  profiles:
    default: { kind: linux, kernel: vmlinuz, initrds: [initrd.img], cmdline: "console=ttyS0" }
`,
    }));
    api = await ApiClient.setUp(await lab.client(undefined, '10.87.0.9/24'), `http://${SERVER}`, server);
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  async function firmwareDhcp(mac: string, label: string, identity: string[]): Promise<void> {
    const ns = await lab.client(mac);
    const { script, events } = await lab.clientScript('udhcpc', label);
    await ns.exec(['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '5', '-T', '2', '-s', script, ...identity], { timeoutMs: 60_000 });
    await waitForEvent(events, /^bound /, 30_000);
  }

  it('before any DHCP: no architecture, and the loader the policy would hand', async () => {
    expect(await api.node(NODES.uefi)).toMatchObject({ loader: 'ipxe' });
    expect(await api.node(NODES.uefi)).not.toHaveProperty('arch');
    expect(await api.node(NODES.grub)).toMatchObject({ loader: 'grub' });
    expect(await api.node(NODES.grub)).not.toHaveProperty('arch');
  });

  it('a UEFI x64 PXE DISCOVER (option 93 = 7): x64 UEFI, iPXE', async () => {
    await firmwareDhcp(NODES.uefi, 'uefi', UEFI_X64_PXE);
    const node = await api.waitForNode(NODES.uefi, (n) => n.arch !== undefined, 30_000);
    expect(node).toMatchObject({ name: 'uefi-node', arch: 'x64 UEFI', loader: 'ipxe', firmware: 'uefi-x64-pxe' });
  }, 90_000);

  it('a node whose firmware is arm64 UEFI HTTP Boot: the arm64 GRUB image (there is no arm64 iPXE)', async () => {
    await firmwareDhcp(NODES.grub, 'grub', UEFI_ARM64_HTTP);
    const node = await api.waitForNode(NODES.grub, (n) => n.arch !== undefined, 30_000);
    expect(node).toMatchObject({ name: 'grub-node', arch: 'arm64 UEFI HTTP', loader: 'grub' });
  }, 90_000);

  it('a node with loader grub whose firmware is x86 BIOS: signed GRUB cannot boot it, so iPXE', async () => {
    await firmwareDhcp(NODES.bios, 'bios', X86_BIOS_PXE);
    const node = await api.waitForNode(NODES.bios, (n) => n.arch !== undefined, 30_000);
    expect(node).toMatchObject({ name: 'bios-node', arch: 'x86 BIOS', loader: 'ipxe' });
  }, 90_000);
});
