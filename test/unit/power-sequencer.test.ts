import { describe, expect, it } from 'vitest';
import { FakeClock } from '../helpers/fake-clock.js';
import { DEFAULT_POWER_CONFIG } from '../../firmware/src/config/defaults.js';
import type { SequencerConfig } from '../../firmware/src/config/schema.js';
import { PowerError } from '../../firmware/src/power/driver.js';
import { PowerSequencer, type DiagnosisListener, type SequencerHost } from '../../firmware/src/power/sequencer.js';
import type { PowerEvent, PowerOutcome } from '../../firmware/src/power/service.js';
import type { BootStage, Diagnosis } from '../../firmware/src/model/boot.js';
import type { LivenessEvidence } from '../../firmware/src/power/liveness.js';

const macs = Array.from({ length: 8 }, (_, i) => `52:54:00:00:00:0${i + 1}`);

function config(overrides: Partial<SequencerConfig> = {}): SequencerConfig {
  return { ...structuredClone(DEFAULT_POWER_CONFIG.sequencer), staggerMs: 1000, maxEarlyBoot: 100, pollMs: 100, ...overrides };
}

/** A rack where switching a node on puts it in power_on, as the boot tracker would. */
class FakeRack implements SequencerHost {
  stages = new Map<string, BootStage>();
  transfers = 0;
  events: PowerEvent[] = [];
  actions: { at: number; mac: string; action: 'on' | 'cycle'; by: string }[] = [];
  noChannel = new Set<string>();
  failing = new Set<string>();
  /** Nodes that answer the liveness probe (up, whatever the tracker was told). */
  up = new Set<string>();
  probed: string[] = [];
  channelRecoveryOf = new Map<string, boolean>();
  bootWindowMs = 0;
  private listeners: DiagnosisListener[] = [];

  constructor(readonly clock: FakeClock) {}

  stageOf = (mac: string) => this.stages.get(mac);
  inFlightTransfers = () => this.transfers;
  channelOf = (mac: string) => (this.noChannel.has(mac) ? undefined : `ch-${mac.slice(-2)}`);
  nameOf = (mac: string) => `node${mac.slice(-2)}`;
  emit = (event: PowerEvent) => void this.events.push(event);
  channelRecovery = (mac: string) => this.channelRecoveryOf.get(mac);
  liveness = (mac: string): Promise<LivenessEvidence> => {
    this.probed.push(mac);
    const answered = this.up.has(mac);
    return Promise.resolve({
      address: `10.0.0.${Number.parseInt(mac.slice(-2), 16)}`,
      probes: [
        { method: 'arp', sent: 2, answered },
        { method: 'icmp', sent: 2, answered },
      ],
      answered,
    });
  };
  onDiagnosis(listener: DiagnosisListener) {
    this.listeners.push(listener);
    return () => void (this.listeners = this.listeners.filter((l) => l !== listener));
  }
  /** Like the tracker, a failed boot keeps the stage it stalled in. */
  diagnose(mac: string, diagnosis: Diagnosis) {
    if (diagnosis === 'booted') this.stages.set(mac, 'booted');
    for (const l of this.listeners) l(mac, diagnosis, 'test');
  }

  power = {
    on: (mac: string, by: string): Promise<PowerOutcome> => Promise.resolve(this.act(mac, 'on', by)),
    cycle: (mac: string, by: string): Promise<PowerOutcome> => Promise.resolve(this.act(mac, 'cycle', by)),
  };

  private act(mac: string, action: 'on' | 'cycle', by: string): PowerOutcome {
    this.actions.push({ at: this.clock.now, mac, action, by });
    if (this.failing.has(mac)) return { ok: false, error: new PowerError(`ch-${mac.slice(-2)}`, 'io', 'relay stuck') };
    this.stages.set(mac, 'power_on');
    return { ok: true };
  }
}

/** Lets the sequencer's awaited actions settle (they resolve on the microtask queue). */
const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

async function advance(clock: FakeClock, ms: number, stepMs = 10) {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(Math.min(stepMs, ms - t));
    await flush();
  }
}

function setup(overrides: Partial<SequencerConfig> = {}) {
  const clock = new FakeClock();
  const rack = new FakeRack(clock);
  const sequencer = new PowerSequencer(config(overrides), rack, rack.power, clock.timers);
  return { clock, rack, sequencer };
}

describe('power-on sequencing', () => {
  it('staggers batches at a fixed interval and reports the run', async () => {
    const { clock, rack, sequencer } = setup({ staggerMs: 2000, batchSize: 2 });
    const run = sequencer.powerOn(macs.slice(0, 5), 'admin');
    await flush();
    expect(rack.actions.map((a) => [a.at, a.mac.slice(-2)])).toEqual([
      [0, '01'],
      [0, '02'],
    ]);
    await advance(clock, 1990);
    expect(rack.actions).toHaveLength(2);
    await advance(clock, 10);
    expect(rack.actions.map((a) => a.at)).toEqual([0, 0, 2000, 2000]);
    await advance(clock, 2000);
    const summary = await run.done;
    expect(rack.actions.map((a) => a.at)).toEqual([0, 0, 2000, 2000, 4000]);
    expect(rack.actions.every((a) => a.by === 'admin' && a.action === 'on')).toBe(true);
    expect(summary).toEqual({ switchedOn: macs.slice(0, 5), failed: [], skipped: [], cancelled: [] });
    expect(rack.events.map((e) => e.message)).toEqual(['power-on of 5 node(s) started', 'power-on run 1 finished: 5 on, 0 failed']);
    expect(rack.events.every((e) => e.type === 'power' && e.by === 'admin')).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('adaptive: the next batch waits until in-flight transfers drop below the threshold', async () => {
    const { clock, rack, sequencer } = setup({ staggerMs: 500, adaptive: true, maxTransfers: 4, pollMs: 250 });
    rack.transfers = 4;
    const run = sequencer.powerOn(macs.slice(0, 3), 'console');
    await advance(clock, 3000);
    expect(rack.actions).toHaveLength(0); // at the threshold: nothing goes
    rack.transfers = 3;
    await advance(clock, 250);
    expect(rack.actions.map((a) => a.mac)).toEqual([macs[0]]);
    const firstAt = rack.actions[0].at;
    rack.transfers = 9; // the first node's downloads
    await advance(clock, 5000);
    expect(rack.actions).toHaveLength(1);
    rack.transfers = 0;
    await advance(clock, 250);
    expect(rack.actions).toHaveLength(2);
    // Low load never shortens the stagger.
    await advance(clock, 100);
    expect(rack.actions).toHaveLength(2);
    await advance(clock, 500);
    expect(rack.actions).toHaveLength(3);
    expect(rack.actions[1].at - firstAt).toBeGreaterThanOrEqual(500);
    expect(rack.actions[2].at - rack.actions[1].at).toBeGreaterThanOrEqual(500);
    expect((await run.done).switchedOn).toHaveLength(3);
  });

  it('never has more than max_early_boot nodes between power_on and nbp_tftp', async () => {
    const { clock, rack, sequencer } = setup({ staggerMs: 0, batchSize: 8, maxEarlyBoot: 3, pollMs: 100 });
    const run = sequencer.powerOn(macs, 'admin');
    await flush();
    expect(rack.actions).toHaveLength(3);
    expect(sequencer.earlyBootCount()).toBe(3);
    // Moving along within the early stages frees nothing.
    rack.stages.set(macs[0], 'nbp_tftp');
    await advance(clock, 1000);
    expect(rack.actions).toHaveLength(3);
    // Past nbp_tftp (iPXE running): one slot frees.
    rack.stages.set(macs[0], 'ipxe_dhcp');
    await advance(clock, 100);
    expect(rack.actions).toHaveLength(4);
    // A node that failed (back to off) frees its slot too.
    rack.stages.set(macs[1], 'off');
    rack.stages.set(macs[2], 'booted');
    await advance(clock, 100);
    expect(rack.actions).toHaveLength(6);
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      peak = Math.max(peak, sequencer.earlyBootCount());
      for (const a of rack.actions) if (rack.stages.get(a.mac) === 'power_on') rack.stages.set(a.mac, 'kernel');
      await advance(clock, 100);
    }
    expect(peak).toBeLessThanOrEqual(3);
    expect((await run.done).switchedOn).toEqual(macs);
  });

  it('skips nodes without a channel, reports failures, and can be cancelled', async () => {
    const { clock, rack, sequencer } = setup({ staggerMs: 1000 });
    rack.noChannel.add(macs[1]);
    rack.failing.add(macs[2]);
    const run = sequencer.powerOn(macs.slice(0, 6), 'admin');
    await advance(clock, 1000);
    expect(rack.actions.map((a) => a.mac)).toEqual([macs[0], macs[2]]);
    expect(run.pending()).toEqual([macs[3], macs[4], macs[5]]);
    run.cancel();
    const summary = await run.done;
    expect(summary).toEqual({
      switchedOn: [macs[0]],
      failed: [{ mac: macs[2], message: 'power channel ch-03: relay stuck' }],
      skipped: [macs[1]],
      cancelled: [macs[3], macs[4], macs[5]],
    });
    await advance(clock, 10_000);
    expect(rack.actions).toHaveLength(2);
    expect(clock.pending).toBe(0);
    expect(rack.events.at(-1)!.message).toBe('power-on run 1 cancelled: 1 on, 1 failed, 3 left off');
  });
});

describe('recovery', () => {
  const recovery = { enabled: true, maxAttempts: 3, backoffMs: 1000, maxBackoffMs: 3000 };

  it('power-cycles a failed node with exponential backoff up to the attempt limit, each attempt an event', async () => {
    const { clock, rack } = setup({ recovery });
    const mac = macs[0];
    const cycles = () => rack.actions.filter((a) => a.action === 'cycle').map((a) => a.at);

    rack.diagnose(mac, 'tftp_open_timeout');
    await advance(clock, 999);
    expect(cycles()).toEqual([]);
    await advance(clock, 1);
    expect(cycles()).toEqual([1000]);
    // A second diagnosis while the cycle is pending or after: one attempt each, backoff 2000 then capped 3000 (not 4000).
    rack.diagnose(mac, 'tftp_open_timeout');
    rack.diagnose(mac, 'tftp_open_timeout'); // duplicate while waiting: ignored
    await advance(clock, 2000);
    expect(cycles()).toEqual([1000, 3000]);
    rack.diagnose(mac, 'no_offer');
    await advance(clock, 2999);
    expect(cycles()).toHaveLength(2);
    await advance(clock, 1);
    expect(cycles()).toEqual([1000, 3000, 6000]);
    rack.diagnose(mac, 'no_offer');
    await advance(clock, 60_000);
    expect(cycles()).toHaveLength(3);
    expect(rack.actions.every((a) => a.by === 'recovery')).toBe(true);

    const events = rack.events.filter((e) => e.type === 'recovery');
    expect(events.map((e) => e.message)).toEqual([
      'power-cycling node01 after tftp_open_timeout (test): attempt 1 of 3 (no answer from 10.0.0.1 to 2 ARP, 2 ICMP)',
      'power-cycling node01 after tftp_open_timeout (test): attempt 2 of 3 (no answer from 10.0.0.1 to 2 ARP, 2 ICMP)',
      'power-cycling node01 after no_offer (test): attempt 3 of 3 (no answer from 10.0.0.1 to 2 ARP, 2 ICMP)',
      'node01: giving up after 3 power-cycle(s); last diagnosis no_offer (test)',
    ]);
    expect(events.every((e) => e.by === 'recovery' && e.mac === mac && e.node === 'node01')).toBe(true);
    expect(events.map((e) => e.detail?.backoffMs)).toEqual([1000, 2000, 3000, undefined]);
    // Giving up is said once.
    rack.diagnose(mac, 'no_offer');
    expect(rack.events.filter((e) => e.type === 'recovery')).toHaveLength(4);
  });

  it('a boot keeps the attempts; only an operator action resets them, also for a node given up on', async () => {
    const { clock, rack, sequencer } = setup({ recovery: { ...recovery, maxAttempts: 1 } });
    const [a, b] = [macs[0], macs[1]];
    rack.diagnose(a, 'kernel_load_failed');
    await advance(clock, 1000);
    expect(sequencer.recoveryAttempts(a)).toBe(1);
    rack.diagnose(a, 'booted');
    expect(sequencer.recoveryAttempts(a)).toBe(1);
    expect(rack.events.at(-1)!.message).toBe('node01 booted after 1 recovery power-cycle(s)');
    // Failures after the boot (a forged loop would look like this) do not get new attempts.
    rack.diagnose(a, 'kernel_load_failed');
    await advance(clock, 10_000);
    expect(rack.actions.filter((x) => x.mac === a)).toHaveLength(1);
    expect(rack.events.at(-1)!.detail).toMatchObject({ gaveUp: true, attempts: 1 });
    rack.diagnose(a, 'booted');
    rack.diagnose(a, 'kernel_load_failed');
    await advance(clock, 10_000);
    expect(rack.actions.filter((x) => x.mac === a)).toHaveLength(1);

    // An operator's power action (API, console, UI) starts the count again.
    sequencer.operatorAction(a, 'off');
    expect(sequencer.recoveryAttempts(a)).toBe(0);
    rack.diagnose(a, 'kernel_load_failed');
    await advance(clock, 1000);
    expect(rack.actions.filter((x) => x.mac === a)).toHaveLength(2);

    rack.diagnose(b, 'arp_timeout');
    await advance(clock, 1000);
    rack.diagnose(b, 'arp_timeout');
    expect(rack.events.at(-1)!.detail).toMatchObject({ gaveUp: true });
    sequencer.resetRecovery(b);
    rack.diagnose(b, 'arp_timeout');
    await advance(clock, 1000);
    expect(rack.actions.filter((x) => x.mac === b)).toHaveLength(2);
  });

  it('probes the node before every cycle: a node that answers is not cycled, and the event says the diagnosis was ignored', async () => {
    const { clock, rack, sequencer } = setup({ recovery });
    const mac = macs[0];
    rack.up.add(mac);
    for (let i = 0; i < 5; i++) {
      rack.diagnose(mac, 'no_offer');
      await advance(clock, 1000);
    }
    expect(rack.actions).toEqual([]);
    expect(rack.probed).toEqual([mac, mac, mac, mac, mac]);
    expect(sequencer.recoveryAttempts(mac)).toBe(0);
    const skipped = rack.events.filter((e) => e.type === 'recovery');
    expect(skipped).toHaveLength(5);
    expect(skipped[0]).toMatchObject({
      mac,
      by: 'recovery',
      message: 'recovery of node01 skipped: 10.0.0.1 answered ARP and ICMP, so the no_offer (test) diagnosis is ignored',
      detail: {
        ignored: true,
        diagnosis: 'no_offer',
        diagnosisDetail: 'test',
        liveness: { address: '10.0.0.1', answered: true, probes: [expect.objectContaining({ method: 'arp', answered: true }), expect.anything()] },
      },
    });

    // Once it stops answering, the cycle goes ahead and its event carries the evidence of silence.
    rack.up.delete(mac);
    rack.diagnose(mac, 'no_offer');
    await advance(clock, 1000);
    expect(rack.actions.map((a) => [a.mac, a.action, a.by])).toEqual([[mac, 'cycle', 'recovery']]);
    expect(rack.events.at(-1)!.detail).toMatchObject({
      attempt: 1,
      liveness: {
        address: '10.0.0.1',
        answered: false,
        probes: [
          { method: 'arp', sent: 2, answered: false },
          { method: 'icmp', sent: 2, answered: false },
        ],
      },
    });
  });

  it('never cycles a node within its boot window after an operator switched it on or cycled it', async () => {
    const { clock, rack, sequencer } = setup({ recovery });
    rack.bootWindowMs = 90_000;
    const [a, b] = [macs[0], macs[1]];
    await sequencer.powerOn([a], 'admin').done;
    expect(sequencer.recoveryStatus(a)).toEqual({ on: true, attempts: 0, bootWindowEndsAt: 90_000 });
    await advance(clock, 30_000, 1000);
    rack.diagnose(a, 'took_too_long');
    await advance(clock, 59_000, 1000);
    expect(rack.actions.filter((x) => x.action === 'cycle')).toEqual([]);
    await advance(clock, 1000, 100);
    expect(rack.actions.filter((x) => x.action === 'cycle').map((x) => [x.at, x.mac])).toEqual([[90_000, a]]);
    expect(sequencer.recoveryStatus(a)).toEqual({ on: true, attempts: 1 });

    // The API's cycle (ServicePowerControl calls operatorAction) opens the window too, and resets the attempts.
    sequencer.operatorAction(b, 'cycle');
    rack.diagnose(b, 'tftp_open_timeout');
    await advance(clock, 89_000, 1000);
    expect(rack.actions.filter((x) => x.mac === b)).toEqual([]);
    // A boot within the window cancels the pending cycle.
    rack.diagnose(b, 'booted');
    await advance(clock, 10_000, 1000);
    expect(rack.actions.filter((x) => x.mac === b)).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('is off by default; a channel can turn it on or off for its node', async () => {
    expect(DEFAULT_POWER_CONFIG.sequencer.recovery.enabled).toBe(false);
    const { clock, rack, sequencer } = setup();
    rack.diagnose(macs[0], 'no_offer');
    await advance(clock, 120_000, 1000);
    expect(rack.actions).toEqual([]);
    expect(rack.probed).toEqual([]);
    expect(sequencer.recoveryStatus(macs[0])).toEqual({ on: false, attempts: 0 });

    rack.channelRecoveryOf.set(macs[1], true);
    expect(sequencer.recoveryStatus(macs[1]).on).toBe(true);
    rack.diagnose(macs[1], 'no_offer');
    await advance(clock, DEFAULT_POWER_CONFIG.sequencer.recovery.backoffMs, 1000);
    expect(rack.actions.map((a) => [a.mac, a.action])).toEqual([[macs[1], 'cycle']]);

    const on = setup({ recovery });
    on.rack.channelRecoveryOf.set(macs[2], false);
    on.rack.diagnose(macs[2], 'no_offer');
    await advance(on.clock, 10_000);
    expect(on.rack.actions).toEqual([]);
    expect(on.sequencer.recoveryStatus(macs[2]).on).toBe(false);
    on.rack.noChannel.add(macs[3]);
    expect(on.sequencer.recoveryStatus(macs[3]).on).toBe(false);
  });

  it('waits for early-boot room, ignores nodes without a channel, and does nothing when disabled or stopped', async () => {
    const { clock, rack, sequencer } = setup({ maxEarlyBoot: 1, recovery });
    const run = sequencer.powerOn([macs[0]], 'admin');
    await run.done;
    rack.diagnose(macs[1], 'tftp_read_timeout');
    await advance(clock, 5000);
    expect(rack.actions).toHaveLength(1); // macs[0] still in power_on: no room
    rack.stages.set(macs[0], 'kernel');
    await advance(clock, 100);
    expect(rack.actions.map((a) => [a.mac, a.action])).toEqual([
      [macs[0], 'on'],
      [macs[1], 'cycle'],
    ]);

    // A failed node holds no early-boot slot, even though its stage still says offered.
    const slots = setup({ maxEarlyBoot: 1, recovery });
    await slots.sequencer.powerOn([macs[0]], 'admin').done;
    slots.rack.stages.set(macs[0], 'offered');
    slots.rack.diagnose(macs[0], 'no_offer');
    expect(slots.sequencer.earlyBootCount()).toBe(0);
    await advance(slots.clock, 1000);
    expect(slots.rack.actions.map((a) => [a.mac, a.action])).toEqual([
      [macs[0], 'on'],
      [macs[0], 'cycle'],
    ]);
    expect(slots.sequencer.earlyBootCount()).toBe(1); // cycled: in power_on again

    rack.noChannel.add(macs[2]);
    rack.diagnose(macs[2], 'no_offer');
    await advance(clock, 10_000);
    expect(rack.actions).toHaveLength(2);

    const off = setup({ recovery: { ...recovery, enabled: false } });
    off.rack.diagnose(macs[0], 'no_offer');
    await advance(off.clock, 10_000);
    expect(off.rack.actions).toHaveLength(0);

    const stopping = setup({ recovery });
    stopping.rack.diagnose(macs[0], 'no_offer');
    stopping.sequencer.stop();
    await advance(stopping.clock, 10_000);
    expect(stopping.rack.actions).toHaveLength(0);
    expect(stopping.clock.pending).toBe(0);
  });

  it('reports a cycle that failed', async () => {
    const { clock, rack } = setup({ recovery });
    rack.failing.add(macs[0]);
    rack.diagnose(macs[0], 'no_offer');
    await advance(clock, 1000);
    expect(rack.events.at(-1)).toMatchObject({
      type: 'recovery',
      by: 'recovery',
      message: 'power-cycling node01 failed: power channel ch-01: relay stuck',
      detail: { ok: false, code: 'io' },
    });
  });
});
