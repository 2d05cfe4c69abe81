// Node power in the QEMU lab, end to end: three BIOS iPXE virtual nodes are
// power channels of rackboot's `qemu` driver; one API call powers on the rack
// through the sequencer, and all three boot. One node's DHCP answers are dropped
// by nftables: it is diagnosed (no_offer); once its boot window after the
// power-on has passed, recovery probes it, finds no answer, power-cycles it, and
// with the sabotage ended it boots.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ensurePayload } from '../helpers/payload.js';
import { attachTap, qemuArgv } from '../helpers/qemu.js';
import { ApiClient } from '../helpers/api-client.js';
import type { PowerResult, RackbootEvent } from '../../firmware/src/model/api.js';

const SERVER = '10.89.0.1';
const NODES = [
  { name: 'vm1', mac: '52:54:00:89:00:01' },
  { name: 'vm2', mac: '52:54:00:89:00:02' },
  { name: 'vm3', mac: '52:54:00:89:00:03' },
];
const SABOTAGED = NODES[2];

describe('power: the sequencer boots the QEMU lab, recovery revives a sabotaged node', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;

  beforeAll(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    const payload = await ensurePayload();
    const root = join(lab.dir, 'root');
    await mkdir(root);
    for (const file of [payload.kernel, payload.initrd]) await copyFile(file, join(root, basename(file)));
    const channels: string[] = [];
    for (const node of NODES) {
      const ns = await lab.lab.namespace(node.name);
      await lab.segment.attach({ ns, ifname: 'eth0' });
      const tap = await attachTap(ns);
      // rackboot runs QEMU inside the node's namespace, where its tap is.
      const argv = ['ip', 'netns', 'exec', ns.name, ...qemuArgv({ name: `rackboot-${node.name}`, firmware: 'bios-ipxe', tap, mac: node.mac })];
      channels.push(`    ${node.name}: { driver: qemu, argv: ${JSON.stringify(argv)}, log: ${JSON.stringify(join(lab.dir, `${node.name}.log`))} }`);
    }
    const config = await lab.writeConfig(`
interface: eth0
pools:
  - subnet: 10.89.0.0/24
    range: 10.89.0.100-10.89.0.150
inventory:
  boot_timeout: 120
hosts:
${NODES.map((n) => `  - { mac: "${n.mac}", hostname: ${n.name}, power_channel: ${n.name} }`).join('\n')}
power:
  safe_state: { start: off, exit: off }
  channels:
${channels.join('\n')}
  sequencer:
    stagger: 2s
    max_early_boot: 2
    recovery: { enabled: true, max_attempts: 3, backoff: 5s, max_backoff: 20s }
boot:
  root: ${root}
  profiles:
    default: { kind: linux, kernel: vmlinuz, initrds: [initrd.img], cmdline: "console=ttyS0" }
`);
    server = await lab.startServer(['--config', config]);
    api = await ApiClient.setUp(await lab.client(undefined, '10.89.0.9/24'), `http://${SERVER}`, server);
  }, 180_000);

  afterAll(async () => {
    const code = await server?.stop();
    await lab?.destroy();
    expect(code).toBe(0);
  });

  it('powers on the rack in one action; the sabotaged node is diagnosed, cycled, and boots', async () => {
    // The bridge drops every DHCP answer to the third node.
    await lab.segment.ns.exec(['nft', 'add', 'table', 'bridge', 'sabotage']);
    await lab.segment.ns.exec(['nft', 'add', 'chain', 'bridge', 'sabotage', 'drops', '{ type filter hook forward priority 0 ; }']);
    await lab.segment.ns.exec(['nft', 'add', 'rule', 'bridge', 'sabotage', 'drops', 'ether', 'daddr', SABOTAGED.mac, 'udp', 'sport', '67', 'drop']);

    const powerOn = await api.request<PowerResult[]>('POST', '/api/v1/power', { action: 'on' });
    expect(powerOn.status).toBe(200);
    expect(powerOn.body.map((r) => [r.name, r.ok])).toEqual(expect.arrayContaining(NODES.map((n) => [n.name, true])));

    const stuck = await api.waitForNode(SABOTAGED.mac, (n) => n.diagnosis !== undefined, 120_000);
    expect(stuck.diagnosis).toBe('no_offer');
    expect(stuck.recovery.on).toBe(true);
    // Recovery waits out the boot window (boot_timeout after the power-on), probes, and cycles the silent node.
    const recoveryCycle = async () => (await api.get<RackbootEvent[]>('/api/v1/events?type=power')).find((e) => e.mac === SABOTAGED.mac && e.by === 'recovery');
    const deadline = Date.now() + 240_000;
    while (!(await recoveryCycle())) {
      if (Date.now() > deadline) throw new Error(`no recovery power-cycle of ${SABOTAGED.name}: ${JSON.stringify(await api.timeline(SABOTAGED.mac))}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await lab.segment.ns.exec(['nft', 'delete', 'table', 'bridge', 'sabotage']);

    for (const node of NODES) {
      const view = await api.waitForNode(node.mac, (n) => n.stage === 'booted', 240_000);
      expect(view, node.name).toMatchObject({ name: node.name, diagnosis: 'booted', diagnosisDetail: 'the OS called back' });
    }
    const timeline = await api.timeline(SABOTAGED.mac);
    const kinds = timeline.map((e: RackbootEvent) => `${e.type}:${e.diagnosis ?? e.stage ?? e.by ?? ''}`);
    expect(kinds).toEqual(expect.arrayContaining(['diagnosis:no_offer', 'diagnosis:booted']));
    const cycling = timeline.find((e) => e.type === 'recovery' && e.message.startsWith(`power-cycling ${SABOTAGED.name} after no_offer`));
    expect(cycling, kinds.join('\n')).toBeDefined();
    expect(cycling!.detail).toMatchObject({ attempt: 1, liveness: { answered: false } });
    const cycles = timeline.filter((e) => e.type === 'power' && e.by === 'recovery');
    expect(cycles.map((e) => e.message)).toContain(`power cycle ${SABOTAGED.name} (channel ${SABOTAGED.name}, qemu)`);
    expect((await api.node(SABOTAGED.mac)).recovery.attempts).toBeGreaterThan(0);
    const powerEvents = (await api.get<RackbootEvent[]>('/api/v1/events?type=power')).filter((e) => e.by === 'token:tests');
    expect(powerEvents.length).toBeGreaterThan(0);
  }, 420_000);
});
