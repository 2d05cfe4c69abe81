// Forged traffic never power-cycles a live node (issue 19, item 1), against the
// real bundle: a QEMU node (BIOS iPXE, the test payload told to stay up) is a
// `qemu` power channel of rackboot with recovery on for that channel. A hostile
// host on the segment sends the DISCOVER sequence that makes the boot tracker
// diagnose a failed boot (the victim's chaddr, PXE option 60; from its own MAC,
// then with the victim's MAC as source, which no layer-2 check can tell apart)
// and forged `GET /boot.ipxe?mac=VICTIM&profile=nope` requests. Recovery probes
// the node before cycling it, the node answers, and the event says the
// diagnosis was ignored, with the probe results; the VM is never restarted.
// Then the VM is really killed: the next failed boot is recovered, with the
// evidence of silence in the event, and the node boots again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DhcpLab } from '../helpers/dhcp-lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ensurePayload } from '../helpers/payload.js';
import { attachTap, qemuArgv } from '../helpers/qemu.js';
import { ApiClient } from '../helpers/api-client.js';
import type { Netns } from '../helpers/netns.js';
import { PacketLinkDriver } from '../helpers/packet-link-driver.js';
import { encodeUdpFrame } from '../../firmware/src/net/frame.js';
import { encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { macToBytes } from '../../firmware/src/net/addr.js';
import type { NodeView, PowerResult, RackbootEvent } from '../../firmware/src/model/api.js';

const SERVER = '10.93.0.1';
const VICTIM = { name: 'victim', mac: '52:54:00:93:00:01' };
/** The boot window after the operator's power-on; the first boot under TCG fits well within it. */
const BOOT_TIMEOUT_S = 150;
/** A firmware DISCOVER from a node silent this long begins a new boot (boot-tracking/stages.ts newBootAfterMs). */
const NEW_BOOT_AFTER_MS = 120_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A PXE ROM's DHCPDISCOVER for `chaddr` (option 53, 60 PXEClient, 93 BIOS x86, 94 UNDI), in a frame from `srcMac`. */
function pxeDiscover(chaddr: string, srcMac: string, xid: number): Buffer {
  const hw = Buffer.alloc(16);
  macToBytes(chaddr).copy(hw);
  const payload = encodeDhcp({
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 4,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: hw,
    sname: '',
    file: '',
    options: new Map([
      [53, Buffer.from([1])],
      [60, Buffer.from('PXEClient:Arch:00000:UNDI:002001')],
      [93, Buffer.from([0, 0])],
      [94, Buffer.from([1, 2, 1])],
    ]),
  });
  return encodeUdpFrame({ srcMac, dstMac: 'ff:ff:ff:ff:ff:ff', srcIp: '0.0.0.0', dstIp: '255.255.255.255', srcPort: 68, dstPort: 67, payload });
}

describe('forged traffic never power-cycles a live node; a dead one is still recovered', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  let hostile: Netns;
  let hostileMac: string;
  let forger: PacketLinkDriver;
  const pidFile = () => join(lab.dir, 'state', 'power', `${VICTIM.name}.pid`);
  /** The QEMU process the qemu driver runs for the victim (its pid file: "PID STARTTIME"). */
  const vmPid = async () => Number((await readFile(pidFile(), 'utf8')).trim().split(' ')[0]);

  beforeAll(async () => {
    lab = await DhcpLab.create(`${SERVER}/24`);
    const payload = await ensurePayload();
    const root = join(lab.dir, 'root');
    await mkdir(root);
    for (const file of [payload.kernel, payload.initrd]) await copyFile(file, join(root, basename(file)));
    const ns = await lab.lab.namespace('recovery_vm');
    await lab.segment.attach({ ns, ifname: 'eth0' });
    const tap = await attachTap(ns);
    const argv = ['ip', 'netns', 'exec', ns.name, ...qemuArgv({ name: 'rackboot-recovery-victim', firmware: 'bios-ipxe', tap, mac: VICTIM.mac })];
    const config = await lab.writeConfig(`
interface: eth0
pools:
  - subnet: 10.93.0.0/24
    range: 10.93.0.100-10.93.0.150
hosts:
  - { mac: "${VICTIM.mac}", hostname: ${VICTIM.name}, power_channel: ${VICTIM.name} }
inventory:
  boot_timeout: ${BOOT_TIMEOUT_S}
power:
  safe_state: { start: off, exit: off }
  channels:
    ${VICTIM.name}: { driver: qemu, argv: ${JSON.stringify(argv)}, log: ${JSON.stringify(join(lab.dir, 'victim.log'))}, recovery: true }
  sequencer:
    recovery: { max_attempts: 2, backoff: 2s, max_backoff: 10s }
boot:
  root: ${root}
  profiles:
    default: { kind: linux, kernel: vmlinuz, initrds: [initrd.img], cmdline: "console=ttyS0 rackboot.stay=1" }
`);
    server = await lab.startServer(['--config', config]);
    hostile = await lab.client(undefined, '10.93.0.66/24');
    hostileMac = (await hostile.exec(['cat', '/sys/class/net/eth0/address'])).trim();
    api = await ApiClient.setUp(hostile, `http://${SERVER}`, server);
    forger = await PacketLinkDriver.start(hostile);
    await forger.open('eth0', [68]);
  }, 180_000);

  afterAll(async () => {
    await forger?.stop();
    const code = await server?.stop();
    await lab?.destroy();
    expect(code).toBe(0);
  });

  const recoveryEvents = async () => (await api.timeline(VICTIM.mac)).filter((e: RackbootEvent) => e.type === 'recovery');
  const recoveryCycles = async () => (await api.get<RackbootEvent[]>('/api/v1/events?type=power')).filter((e) => e.mac === VICTIM.mac && e.by === 'recovery');

  async function waitForEvent(what: string, find: () => Promise<RackbootEvent | undefined>, timeoutMs: number): Promise<RackbootEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = await find();
      if (hit) return hit;
      if (Date.now() > deadline) {
        const timeline = (await api.timeline(VICTIM.mac)).map((e) => `${e.type} ${e.by ?? ''}: ${e.message}`);
        throw new Error(`no ${what} within ${timeoutMs} ms; the victim's timeline:\n${timeline.join('\n')}`);
      }
      await sleep(1000);
    }
  }

  async function forgeDiscovers(srcMac: string, xid: number): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await forger.send(pxeDiscover(VICTIM.mac, srcMac, xid));
      await sleep(1000);
    }
  }

  it('the operator powers the node on and it boots; recovery is shown on', async () => {
    const on = await api.request<PowerResult>('POST', `/api/v1/nodes/${VICTIM.name}/power`, { action: 'on' });
    expect(on.status).toBe(200);
    const booted = await api.waitForNode(VICTIM.mac, (n) => n.stage === 'booted', 240_000);
    expect(booted).toMatchObject({ diagnosis: 'booted', diagnosisDetail: 'the OS called back' });
    expect(booted.recovery).toMatchObject({ on: true, attempts: 0 });
    expect(booted.currentIp).toMatch(/^10\.93\.0\./);
  }, 300_000);

  it('forged DISCOVERs and ?mac= requests are diagnosed, but the node answers its probes and is never cycled', async () => {
    const pidBefore = await vmPid();
    const since = Date.now();
    await forgeDiscovers(hostileMac, 0x0bad0001);
    for (let i = 0; i < 3; i++) {
      const status = await hostile.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${SERVER}/boot.ipxe?mac=${VICTIM.mac}&profile=nope`]);
      expect(status).not.toBe('200');
    }
    // The same sequence with the victim's MAC as the frame's source: on a shared segment anyone can send it.
    await forgeDiscovers(VICTIM.mac, 0x0bad0002);

    // Recovery waits out the boot window after the operator's power-on, then probes.
    const skipped = await waitForEvent(
      'recovery-skipped event',
      async () => (await recoveryEvents()).find((e) => e.at >= since && e.detail?.ignored === true),
      BOOT_TIMEOUT_S * 1000 + 60_000,
    );
    expect(skipped.by).toBe('recovery');
    expect(skipped.message).toMatch(/^recovery of victim skipped: 10\.93\.0\.\d+ answered (ARP|ICMP)/);
    expect(skipped.message).toContain('diagnosis is ignored');
    const liveness = skipped.detail!.liveness as { address: string; answered: boolean; probes: { method: string; answered: boolean }[] };
    expect(liveness.answered).toBe(true);
    expect(liveness.probes.map((p) => p.method)).toEqual(['arp', 'icmp']);
    expect(liveness.probes.some((p) => p.answered)).toBe(true);

    // A few more seconds for any cycle that would follow: none does.
    await sleep(10_000);
    expect(await recoveryCycles()).toEqual([]);
    expect((await recoveryEvents()).filter((e) => e.message.startsWith('power-cycling'))).toEqual([]);
    expect(await vmPid()).toBe(pidBefore);
    process.kill(pidBefore, 0); // the VM still runs
    expect((await api.node(VICTIM.mac)).recovery.attempts).toBe(0);
  }, 300_000);

  it('with the VM really killed, the next failed boot is recovered: no answer, a cycle, and the node boots', async () => {
    const pid = await vmPid();
    process.kill(pid, 'SIGKILL');
    // The tracker starts a new boot on a DISCOVER from a node silent for newBootAfterMs.
    await api.waitForNode(VICTIM.mac, (n) => n.lastSeenAt !== undefined && Date.now() - n.lastSeenAt > NEW_BOOT_AFTER_MS + 5000, NEW_BOOT_AFTER_MS + 60_000);
    const since = Date.now();
    await forgeDiscovers(VICTIM.mac, 0x0bad0003);

    const cycling = await waitForEvent(
      'recovery power-cycle',
      async () => (await recoveryEvents()).find((e) => e.at >= since && e.message.startsWith('power-cycling victim')),
      60_000,
    );
    expect(cycling.message).toMatch(/attempt 1 of 2 \(no answer from 10\.93\.0\.\d+ to 2 ARP, 2 ICMP\)$/);
    expect(cycling.detail).toMatchObject({ attempt: 1, liveness: { answered: false } });

    const view: NodeView = await api.waitForNode(VICTIM.mac, (n) => n.stage === 'booted' && (n.bootStartedAt ?? 0) >= since, 300_000);
    expect(view.diagnosisDetail).toBe('the OS called back');
    expect(view.recovery).toMatchObject({ on: true, attempts: 1 });
    expect((await recoveryCycles()).map((e) => e.message)).toEqual(['power cycle victim (channel victim, qemu)']);
    expect(await vmPid()).not.toBe(pid);
  }, 540_000);
});
