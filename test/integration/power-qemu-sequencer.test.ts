// The power stack as the app wires it — PowerSequencer -> PowerService ->
// QemuDriver — on real processes and real timers, with stand-ins for QEMU
// (sh + sleep) and for the boot tracker: each stand-in "boots" by writing to
// its log, and the test plays tracker, reporting stages and a diagnosis.
// (The same flow with real QEMU nodes and rackboot's own tracker is the lab
// test the lead wires; see docs/power.md.)
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POWER_CONFIG } from '../../firmware/src/config/defaults.js';
import type { PowerConfig } from '../../firmware/src/config/schema.js';
import { openPowerDrivers, PowerSequencer, PowerService, type PowerEvent } from '../../firmware/src/power/index.js';
import type { DiagnosisListener } from '../../firmware/src/power/sequencer.js';
import type { BootObservation, BootStage } from '../../firmware/src/model/boot.js';

let dir = '';
let cleanup: (() => Promise<void>) | undefined;

afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const nodes = { '52:54:00:00:10:01': 'vm1', '52:54:00:00:10:02': 'vm2', '52:54:00:00:10:03': 'vm3' } as Record<string, string>;
const macs = Object.keys(nodes);

async function until(what: string, test: () => boolean, timeoutMs = 20_000) {
  for (let waited = 0; !test(); waited += 20) {
    if (waited > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('sequencer + service + qemu driver', () => {
  it('powers on three nodes in staggered batches, and power-cycles a node whose boot failed until it boots', async () => {
    dir = mkdtempSync(join(tmpdir(), 'rbpwr-seq-'));
    const config: PowerConfig = {
      safeState: { start: 'off', exit: 'off' },
      channels: Object.fromEntries(
        Object.values(nodes).map((name) => [
          name,
          { name, driver: 'qemu', argv: ['sh', '-c', 'echo "boot {channel}"; exec sleep 300'], stopTimeoutMs: 2000, offMs: 50 },
        ]),
      ),
      sequencer: {
        ...DEFAULT_POWER_CONFIG.sequencer,
        staggerMs: 200,
        batchSize: 1,
        maxEarlyBoot: 2,
        pollMs: 20,
        recovery: { enabled: true, maxAttempts: 2, backoffMs: 100, maxBackoffMs: 1000 },
      },
    };
    const opened = await openPowerDrivers(config, { stateDir: dir });
    expect(opened.failures).toEqual([]);

    const stages = new Map<string, BootStage>();
    const events: PowerEvent[] = [];
    const observed: BootObservation[] = [];
    const listeners: DiagnosisListener[] = [];
    const host = {
      channelOf: (mac: string) => nodes[mac],
      nameOf: (mac: string) => nodes[mac],
      emit: (e: PowerEvent) => void events.push(e),
      observe: (o: BootObservation) => {
        observed.push(o);
        stages.set(o.mac, o.kind === 'power_on' ? 'power_on' : 'off');
      },
      now: () => Date.now(),
      stageOf: (mac: string) => stages.get(mac),
      inFlightTransfers: () => 0,
      // The stand-ins have no network: nothing to probe, so recovery finds no sign of life.
      liveness: () => Promise.resolve({ probes: [], answered: false }),
      bootWindowMs: 0,
      onDiagnosis: (l: DiagnosisListener) => {
        listeners.push(l);
        return () => {};
      },
    };
    const service = new PowerService(opened.drivers, host);
    const sequencer = new PowerSequencer(config.sequencer, host, service);
    cleanup = async () => {
      sequencer.stop();
      await service.close();
    };

    const run = sequencer.powerOn(macs, 'admin');
    // Two may be in early boot at once: the third waits until one gets past it.
    await until('two nodes on', () => observed.length === 2);
    await new Promise((r) => setTimeout(r, 400));
    expect(observed).toHaveLength(2);
    stages.set(macs[0], 'kernel');
    const summary = await run.done;
    expect(summary.switchedOn).toEqual(macs);
    // (The stagger's timing is checked on a fake clock in test/unit/power-sequencer.test.ts.)
    expect(observed).toEqual(macs.map((mac) => ({ kind: 'power_on', mac, at: expect.any(Number) as number, by: 'admin' })));
    for (const name of Object.values(nodes)) {
      expect(await service.state(Object.keys(nodes).find((m) => nodes[m] === name)!)).toEqual({ ok: true, state: 'on', readable: true });
      await until(
        `${name} log`,
        () => existsSync(join(dir, 'power', `${name}.log`)) && readFileSync(join(dir, 'power', `${name}.log`), 'utf8').includes(`boot ${name}`),
      );
    }

    // vm2's boot fails (its DHCP is dropped): recovery cycles it; the second attempt boots.
    const qemu = opened.drivers.get('vm2') as unknown as { pidOf(c: string): number | undefined };
    const firstPid = qemu.pidOf('vm2');
    for (const l of listeners) l(macs[1], 'no_offer', 'DISCOVERs after our OFFER');
    await until('first recovery cycle', () => observed.length === 4);
    const secondPid = qemu.pidOf('vm2');
    expect(secondPid).toBeDefined();
    expect(secondPid).not.toBe(firstPid);
    for (const l of listeners) l(macs[1], 'no_offer', 'DISCOVERs after our OFFER');
    await until('second recovery cycle', () => observed.length === 5);
    for (const l of listeners) l(macs[1], 'booted');
    await until('booted event', () => events.some((e) => e.message.includes('booted after')));
    expect(events.filter((e) => e.type === 'recovery').map((e) => e.message)).toEqual([
      'power-cycling vm2 after no_offer (DISCOVERs after our OFFER): attempt 1 of 2 (no address known to probe)',
      'power-cycling vm2 after no_offer (DISCOVERs after our OFFER): attempt 2 of 2 (no address known to probe)',
      'vm2 booted after 2 recovery power-cycle(s)',
    ]);
    expect(events.filter((e) => e.type === 'power' && e.mac === macs[1]).map((e) => [e.message, e.by])).toEqual([
      ['power on vm2 (channel vm2, qemu)', 'admin'],
      ['power cycle vm2 (channel vm2, qemu)', 'recovery'],
      ['power cycle vm2 (channel vm2, qemu)', 'recovery'],
    ]);

    // Closing with exit safe state off stops every VM.
    const pids = Object.values(nodes).map((name) => (opened.drivers.get(name) as unknown as { pidOf(c: string): number | undefined }).pidOf(name)!);
    await cleanup();
    cleanup = undefined;
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});
