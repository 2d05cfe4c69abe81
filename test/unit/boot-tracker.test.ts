// The boot tracker with the real inventory and event log: discovery of unknown
// boot firmware, events for every change, the tick-driven diagnoses, stats, and
// the bound on MACs that a forged-DISCOVER flood cannot lift.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootTracker, type BootTrackerOptions } from '../../firmware/src/boot-tracking/tracker.js';
import { DEFAULT_BOOT_LIMITS } from '../../firmware/src/boot-tracking/stages.js';
import { EventLog } from '../../firmware/src/inventory/events.js';
import { NodeInventory, type InventoryOptions } from '../../firmware/src/inventory/nodes.js';
import type { BootObservation, ClientKind } from '../../firmware/src/model/boot.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';
import { FakeClock } from '../helpers/fake-clock.js';

const KNOWN = '52:54:00:00:00:01';
const STRANGER = '52:54:00:00:00:99';
const URL = 'http://10.0.0.1/boot.ipxe';

type Partial1<T> = T extends unknown ? Omit<T, 'mac' | 'at'> : never;

describe('BootTracker', () => {
  let dir: string;
  let clock: FakeClock;
  let inventory: NodeInventory;
  let events: EventLog;
  let counters: Counters;

  async function setup(inv: Partial<InventoryOptions> = {}, tracker: Partial<BootTrackerOptions> = {}) {
    const c = { now: () => clock.now };
    events = await EventLog.open(dir, { clock: c, log: silentLogger });
    inventory = await NodeInventory.open(dir, { clock: c, log: silentLogger, unknownNodes: 'boot', seed: [{ mac: KNOWN, hostname: 'node01' }], ...inv });
    counters = new Counters();
    return new BootTracker({ inventory, events, clock: c, log: silentLogger, counters, ...tracker });
  }

  /** Feeds an observation `dt` ms from now. */
  function see(t: BootTracker, mac: string, obs: Partial1<BootObservation>, dt = 100): void {
    clock.now += dt;
    t.observe({ ...obs, mac, at: clock.now });
  }

  function nativeIpxeBoot(t: BootTracker, mac: string, xid: number): void {
    see(t, mac, { kind: 'dhcp_discover', firmware: 'ipxe', ipxe: true, xid });
    see(t, mac, { kind: 'dhcp_offer', ip: '10.0.0.50', bootFile: URL, proxy: false });
    see(t, mac, { kind: 'dhcp_request', ip: '10.0.0.50' });
    see(t, mac, { kind: 'dhcp_ack', ip: '10.0.0.50', bootFile: URL, firmware: 'ipxe', ipxe: true, proxy: false });
    see(t, mac, { kind: 'http_script', profile: 'debian', status: 200 });
    see(t, mac, { kind: 'http_download', path: '/vmlinuz', role: 'kernel', final: false, status: 200, bytes: 1e7, complete: true, ms: 1000 }, 1000);
    see(t, mac, { kind: 'http_download', path: '/initrd', role: 'initrd', final: true, status: 200, bytes: 3e7, complete: true, ms: 3000 }, 3000);
  }

  function chainloadBoot(t: BootTracker, mac: string, firmware: ClientKind): void {
    see(t, mac, { kind: 'dhcp_discover', firmware, ipxe: false, xid: 1 });
    see(t, mac, { kind: 'dhcp_offer', ip: '10.0.0.11', bootFile: 'undionly.kpxe', proxy: false });
    see(t, mac, { kind: 'dhcp_request', ip: '10.0.0.11' });
    see(t, mac, { kind: 'dhcp_ack', ip: '10.0.0.11', bootFile: 'undionly.kpxe', firmware, ipxe: false, proxy: false });
    see(t, mac, { kind: 'tftp_request', file: 'undionly.kpxe', options: {} });
    see(t, mac, { kind: 'tftp_done', file: 'undionly.kpxe', bytes: 70_000, ms: 200, retransmits: 0 });
    nativeIpxeBoot(t, mac, 2);
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rbinv-tracker-'));
    clock = new FakeClock();
    clock.now = Date.UTC(2026, 0, 1, 12, 0, 0);
  });
  afterEach(async () => {
    await events?.close();
    await inventory?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs every stage change and the diagnosis with the node name; the timeline reads it back', async () => {
    const t = await setup();
    chainloadBoot(t, KNOWN, 'bios-pxe');
    see(t, KNOWN, { kind: 'os_booted', source: 'callback' }, 20_000);
    const timeline = events.timeline(KNOWN);
    expect(timeline.map((e) => [e.type, e.stage, e.diagnosis])).toEqual([
      ['stage', 'dhcp_discover', undefined],
      ['stage', 'offered', undefined],
      ['stage', 'acknowledged', undefined],
      ['stage', 'nbp_tftp', undefined],
      ['stage', 'ipxe_dhcp', undefined],
      ['stage', 'script', undefined],
      ['stage', 'kernel', undefined],
      ['stage', 'initrd', undefined],
      ['stage', 'booted', undefined],
      ['diagnosis', 'booted', 'booted'],
    ]);
    expect(timeline.every((e) => e.node === 'node01')).toBe(true);
    expect(timeline[0].message).toBe('node01: new boot, dhcp_discover');
    // Stage events carry the node's architecture once its firmware has said it (a live view learns a new one).
    expect(timeline[0].detail).toMatchObject({ arch: 'x86 BIOS' });
    expect(timeline.filter((e) => e.type === 'stage').every((e) => e.detail?.arch === 'x86 BIOS')).toBe(true);
    expect(t.state(KNOWN)).toMatchObject({ platform: 'bios-pxe', arch: 'x86 BIOS' });
    expect(timeline.at(-1)).toMatchObject({ message: 'node01: booted: the OS called back', detail: { source: 'callback', firmware: 'bios-pxe', dhcpAcks: 2 } });
    expect(t.state(KNOWN)).toMatchObject({ stage: 'booted', diagnosis: 'booted', boots: 1, booted: 1, dhcpAcks: 2 });
    expect(t.state(KNOWN)).not.toHaveProperty('progress');
  });

  it('the tick applies the timing rules with the clock it is given', async () => {
    const t = await setup();
    see(t, KNOWN, { kind: 'dhcp_discover', firmware: 'bios-pxe', ipxe: false, xid: 7 });
    see(t, KNOWN, { kind: 'dhcp_offer', ip: '10.0.0.11', bootFile: 'undionly.kpxe', proxy: false });
    see(t, KNOWN, { kind: 'dhcp_request', ip: '10.0.0.11' });
    see(t, KNOWN, { kind: 'dhcp_ack', ip: '10.0.0.11', bootFile: 'undionly.kpxe', firmware: 'bios-pxe', ipxe: false, proxy: false });
    for (let i = 0; i < 3; i++) see(t, KNOWN, { kind: 'arp_request', target: '10.0.0.1' }, 2000);
    for (let s = 0; s < 22; s++) {
      clock.now += 1000;
      t.tick();
    }
    expect(t.state(KNOWN)!.diagnosis).toBeUndefined();
    clock.now += 2000;
    t.tick();
    expect(t.state(KNOWN)).toMatchObject({ stage: 'acknowledged', diagnosis: 'arp_timeout' });
    const diag = events.query({ mac: KNOWN, type: 'diagnosis' });
    expect(diag).toHaveLength(1);
    expect(diag[0]).toMatchObject({ diagnosis: 'arp_timeout', stage: 'acknowledged', at: clock.now });
    expect((diag[0].detail!.evidence as { text: string }[]).map((e) => e.text).slice(-3)).toEqual(Array(3).fill('ARP who-has 10.0.0.1'));
    // Nothing more on later ticks.
    t.tick(clock.now + 3_600_000);
    expect(events.query({ mac: KNOWN, type: 'diagnosis' })).toHaveLength(1);
  });

  it('an unknown MAC booting from firmware is discovered, named, and booted by the fallback', async () => {
    const t = await setup();
    nativeIpxeBoot(t, STRANGER, 1);
    await inventory.discover(STRANGER); // the same in-flight promise the tracker waits on
    await new Promise((resolve) => setImmediate(resolve));
    expect(inventory.get(STRANGER)).toMatchObject({ origin: 'discovered', approved: true });
    clock.now += DEFAULT_BOOT_LIMITS.bootedFallbackMs;
    t.tick();
    expect(t.state(STRANGER)).toMatchObject({ stage: 'booted', booted: 1 });
    const timeline = events.timeline(STRANGER);
    expect(timeline[0]).toMatchObject({ type: 'stage', node: 'node-525400000099', stage: 'dhcp_discover' });
    expect(timeline.at(-1)).toMatchObject({ type: 'diagnosis', diagnosis: 'booted', detail: { source: 'last_download' } });
  });

  it('plain DHCP and ARP from MACs it does not know are not tracked', async () => {
    const t = await setup();
    see(t, STRANGER, { kind: 'dhcp_discover', firmware: 'plain', ipxe: false, xid: 1 });
    see(t, STRANGER, { kind: 'arp_request', target: '10.0.0.1' });
    expect(t.state(STRANGER)).toBeUndefined();
    expect(t.size.tracked).toBe(0);
    expect(counters.get('boot.observations_untracked')).toBe(2);
    expect(inventory.get(STRANGER)).toBeUndefined();
    // An inventory node is known even before it was seen booting.
    expect(t.state(KNOWN)).toMatchObject({ stage: 'off', boots: 0 });
  });

  it('stats: boot durations, DHCP ACKs per boot by firmware, nodes per stage and diagnosis', async () => {
    const t = await setup({
      seed: [
        { mac: KNOWN, hostname: 'node01' },
        { mac: '52:54:00:00:00:02', hostname: 'node02' },
        { mac: '52:54:00:00:00:03', hostname: 'node03' },
        { mac: '52:54:00:00:00:04', hostname: 'node04' },
      ],
    });
    const start1 = clock.now + 100;
    chainloadBoot(t, KNOWN, 'bios-pxe');
    see(t, KNOWN, { kind: 'os_booted', source: 'callback' }, 10_000);
    const took1 = clock.now - start1;
    const start2 = clock.now + 100;
    nativeIpxeBoot(t, '52:54:00:00:00:02', 9);
    see(t, '52:54:00:00:00:02', { kind: 'os_booted', source: 'callback' }, 1000);
    const took2 = clock.now - start2;
    // node03 fails, node04 is never seen.
    see(t, '52:54:00:00:00:03', { kind: 'dhcp_discover', firmware: 'uefi-x64-pxe', ipxe: false, xid: 3 });
    see(t, '52:54:00:00:00:03', { kind: 'dhcp_offer', ip: '10.0.0.13', bootFile: 'snponly.efi', proxy: false });
    see(t, '52:54:00:00:00:03', { kind: 'dhcp_discover', firmware: 'uefi-x64-pxe', ipxe: false, xid: 3 }, 4000);
    see(t, '52:54:00:00:00:03', { kind: 'dhcp_discover', firmware: 'uefi-x64-pxe', ipxe: false, xid: 3 }, 8000);
    const stats = t.stats();
    expect(stats).toEqual({
      nodesByStage: { booted: 2, offered: 1, off: 1 },
      nodesByDiagnosis: { booted: 2, no_offer: 1 },
      bootsStarted: 3,
      bootsCompleted: 2,
      bootSeconds: {
        count: 2,
        min: Math.min(took1, took2) / 1000,
        median: Math.min(took1, took2) / 1000,
        p95: Math.max(took1, took2) / 1000,
        max: Math.max(took1, took2) / 1000,
      },
      dhcpAcksPerBoot: { 'bios-pxe': { boots: 1, acks: 2 }, ipxe: { boots: 1, acks: 1 } },
    });
  });

  it('a forged-DISCOVER flood grows neither memory nor the event log without limit', async () => {
    const t = await setup({ maxDiscovered: 3 }, { maxUnlisted: 5 });
    const macs = Array.from({ length: 200 }, (_, i) => `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`);
    for (const [i, mac] of macs.entries()) see(t, mac, { kind: 'dhcp_discover', firmware: 'bios-pxe', ipxe: false, xid: i }, 1);
    // Wait for the inventory's answers (recorded or refused), then for the tracker's handlers on them.
    await Promise.all(macs.map((mac) => inventory.discover(mac)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(inventory.list().filter((n) => n.origin === 'discovered')).toHaveLength(3);
    expect(t.size.unlisted).toBeLessThanOrEqual(5);
    expect(t.size.tracked).toBeLessThanOrEqual(5 + 3);
    expect(counters.get('boot.unlisted_evicted')).toBeGreaterThan(150);
    const macsWithEvents = new Set(events.query({ type: 'stage', limit: 10_000 }).map((e) => e.mac));
    expect(macsWithEvents.size).toBe(3); // only the recorded ones
    expect(counters.get('boot.changes_unreported')).toBe(197);
    // The real node still boots and is reported.
    nativeIpxeBoot(t, KNOWN, 77);
    expect(t.state(KNOWN)!.stage).toBe('initrd');
    expect(events.timeline(KNOWN).length).toBeGreaterThan(0);
  });

  it('tells listeners; a failing listener harms nobody; a script that ends the boot is honoured', async () => {
    const t = await setup({}, { scriptEndsBoot: (profile) => profile === 'local' });
    const seen: string[] = [];
    t.subscribe(() => {
      throw new Error('boom');
    });
    const stop = t.subscribe((mac, change, state) => seen.push(`${mac} ${change.kind} ${state.stage}`));
    see(t, KNOWN, { kind: 'dhcp_discover', firmware: 'ipxe', ipxe: true, xid: 1 });
    see(t, KNOWN, { kind: 'dhcp_ack', ip: '10.0.0.11', bootFile: URL, firmware: 'ipxe', ipxe: true, proxy: false });
    stop();
    see(t, KNOWN, { kind: 'http_script', profile: 'local', status: 200 });
    expect(seen).toEqual([`${KNOWN} stage dhcp_discover`, `${KNOWN} stage acknowledged`]);
    clock.now += DEFAULT_BOOT_LIMITS.bootedFallbackMs;
    t.tick();
    expect(t.state(KNOWN)).toMatchObject({ stage: 'booted' });
    t.forget(KNOWN);
    expect(t.state(KNOWN)).toMatchObject({ stage: 'off' });
  });
});
