// Boot failures made to happen for real in a namespace lab, each diagnosed by
// rackboot and read back through its REST API, as an operator would:
// - no_offer: nftables in the bridge drops every DHCP answer to one node's MAC,
//   and its (PXE-flavoured) udhcpc keeps sending DISCOVERs;
// - tftp_read_timeout: a node's TFTP ACKs stop reaching the server mid-transfer
//   (an nftables byte quota on them), and the server's retries run out;
// - kernel_load_failed: an iPXE-flavoured node fetches its script, then its
//   kernel download is cut short (curl --max-time on a rate-limited download).
// The clients send PXE (option 60 PXEClient, option 93) or iPXE (option 77)
// identities so rackboot treats them as boot firmware.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ApiClient } from '../helpers/api-client.js';

const SERVER = '10.88.0.1';
const NODES = {
  noOffer: '52:54:00:88:00:01',
  tftp: '52:54:00:88:00:02',
  kernel: '52:54:00:88:00:03',
};
/** What a BIOS PXE ROM sends: vendor class and client architecture 0 (x86 BIOS). */
const PXE_IDENTITY = ['-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000'];
/** iPXE's user class (option 77, "iPXE"). */
const IPXE_IDENTITY = ['-x', '0x4d:69505845'];

describe('boot failures diagnosed for real and reported by the API', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      files: {
        'undionly.kpxe': randomBytes(4 * 1024 * 1024),
        // Larger than the socket buffers of both ends, so a cut connection cannot have been handed the whole file.
        vmlinuz: randomBytes(64 * 1024 * 1024),
        'initrd.img': randomBytes(1024 * 1024),
      },
      yaml: ({ root }) => `
interface: eth0
pools:
  - subnet: 10.88.0.0/24
    range: 10.88.0.100-10.88.0.150
hosts:
  - { mac: "${NODES.noOffer}", hostname: lost-offers }
  - { mac: "${NODES.tftp}", hostname: tftp-stall }
  - { mac: "${NODES.kernel}", hostname: kernel-cut }
boot:
  root: ${root}
  profiles:
    default: { kind: linux, kernel: vmlinuz, initrds: [initrd.img], cmdline: "console=ttyS0" }
`,
    }));
    api = await ApiClient.setUp(await lab.client(undefined, '10.88.0.9/24'), `http://${SERVER}`, server);
    await lab.segment.ns.exec(['nft', 'add', 'table', 'bridge', 'sabotage']);
    await lab.segment.ns.exec(['nft', 'add', 'chain', 'bridge', 'sabotage', 'drops', '{ type filter hook forward priority 0 ; }']);
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  /** udhcpc with a firmware identity; resolves once it is bound (or immediately when `wait` is false). */
  async function pxeClient(ns: Netns, label: string, identity: string[], wait = true): Promise<string> {
    const { script, events } = await lab.clientScript('udhcpc', label);
    ns.spawn(['udhcpc', '-f', '-i', 'eth0', '-t', '20', '-T', '2', '-A', '1', '-s', script, ...identity]);
    if (!wait) return events;
    const bound = await waitForEvent(events, /^bound /, 30_000);
    return bound.split(' ')[1];
  }

  it('no_offer: the offers to one node are lost, its DISCOVERs keep coming', async () => {
    await lab.segment.ns.exec(['nft', 'add', 'rule', 'bridge', 'sabotage', 'drops', 'ether', 'daddr', NODES.noOffer, 'udp', 'sport', '67', 'drop']);
    const ns = await lab.client(NODES.noOffer);
    await pxeClient(ns, 'no-offer', PXE_IDENTITY, false);
    const node = await api.waitForNode(NODES.noOffer, (n) => n.diagnosis !== undefined, 60_000);
    expect(node).toMatchObject({ name: 'lost-offers', diagnosis: 'no_offer', firmware: 'bios-pxe' });
    expect(node.evidence.map((e) => e.text).join('\n')).toMatch(/DISCOVER[\s\S]*OFFER[\s\S]*DISCOVER/);
    const diagnosis = (await api.timeline(NODES.noOffer)).find((e) => e.type === 'diagnosis');
    expect(diagnosis).toMatchObject({ diagnosis: 'no_offer', node: 'lost-offers' });
  }, 90_000);

  it('tftp_read_timeout: the node stops acknowledging in the middle of its boot program', async () => {
    const ns = await lab.client(NODES.tftp);
    const ip = await pxeClient(ns, 'tftp', PXE_IDENTITY);
    // After about 40 kB of ACKs (some 700 blocks of 512 bytes), none reach the server any more.
    await lab.segment.ns.exec([
      'nft',
      'add',
      'rule',
      'bridge',
      'sabotage',
      'drops',
      'ip',
      'saddr',
      ip,
      'udp',
      'dport',
      '!=',
      '69',
      'quota',
      'over',
      '40',
      'kbytes',
      'drop',
    ]);
    await ns.exec(['sh', '-c', `tftp -m binary ${SERVER} -c get undionly.kpxe /dev/null; true`], { timeoutMs: 120_000 });
    const node = await api.waitForNode(NODES.tftp, (n) => n.diagnosis !== undefined, 100_000);
    expect(node).toMatchObject({ name: 'tftp-stall', stage: 'nbp_tftp', diagnosis: 'tftp_read_timeout' });
    expect(node.diagnosisDetail).toMatch(/undionly\.kpxe/);
  }, 150_000);

  it('kernel_load_failed: the kernel download ends early', async () => {
    const ns = await lab.client(NODES.kernel);
    const ip = await pxeClient(ns, 'kernel', IPXE_IDENTITY);
    expect(ip).toMatch(/^10\.88\.0\.1\d\d$/);
    const script = await ns.exec(['curl', '-sS', `http://${SERVER}/boot.ipxe?mac=${NODES.kernel}`]);
    expect(script).toContain(`kernel http://${SERVER}/vmlinuz`);
    await ns.exec(['sh', '-c', `curl -sS --limit-rate 200K --max-time 1 -o /dev/null http://${SERVER}/vmlinuz; true`]);
    const node = await api.waitForNode(NODES.kernel, (n) => n.diagnosis !== undefined, 30_000);
    expect(node).toMatchObject({ name: 'kernel-cut', stage: 'kernel', diagnosis: 'kernel_load_failed' });
    expect(node.diagnosisDetail).toMatch(/vmlinuz/);
  }, 60_000);
});
