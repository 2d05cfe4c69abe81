import { describe, expect, it } from 'vitest';
import type { BootObservation } from '../../firmware/src/model/boot.js';
import type { PowerState } from '../../firmware/src/model/power.js';
import { PowerError, type PowerDriver } from '../../firmware/src/power/driver.js';
import { PowerService, type PowerEvent } from '../../firmware/src/power/service.js';

/** A driver whose actions finish only when the test says so, to observe ordering. */
class GatedDriver implements PowerDriver {
  readonly kind = 'gated';
  log: string[] = [];
  gates: (() => void)[] = [];
  state_: PowerState = 'off';
  failNext?: PowerError;
  canReadState = () => true;
  private act(channel: string, action: string, result?: PowerState): Promise<void> {
    this.log.push(`start ${channel} ${action}`);
    return new Promise((resolve, reject) => {
      this.gates.push(() => {
        this.log.push(`end ${channel} ${action}`);
        if (this.failNext) {
          const error = this.failNext;
          this.failNext = undefined;
          return reject(error);
        }
        if (result) this.state_ = result;
        resolve();
      });
    });
  }
  on = (c: string) => this.act(c, 'on', 'on');
  off = (c: string) => this.act(c, 'off', 'off');
  cycle = (c: string) => this.act(c, 'cycle', 'on');
  state = () => Promise.resolve(this.state_);
  closed = false;
  close = () => {
    this.closed = true;
    return Promise.resolve();
  };
  /** Opens gates until nothing is waiting. */
  async drain() {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const gate = this.gates.shift();
      if (!gate) return;
      gate();
    }
  }
}

function setup() {
  const driver = new GatedDriver();
  const events: PowerEvent[] = [];
  const observed: BootObservation[] = [];
  const channels: Record<string, string> = { '52:54:00:00:00:01': 'relay1', '52:54:00:00:00:02': 'relay2', '52:54:00:00:00:03': 'ghost' };
  const service = new PowerService(
    new Map([
      ['relay1', driver],
      ['relay2', driver],
    ]),
    {
      channelOf: (mac) => channels[mac],
      nameOf: (mac) => `node${mac.slice(-2)}`,
      emit: (e) => void events.push(e),
      observe: (o) => void observed.push(o),
      now: () => 1000,
    },
  );
  return { driver, events, observed, service };
}

describe('PowerService', () => {
  it('runs one action at a time per channel, in order, while other channels go in parallel', async () => {
    const { driver, service } = setup();
    const a = service.cycle('52:54:00:00:00:01', 'admin');
    const b = service.off('52:54:00:00:00:01', 'console');
    const c = service.on('52:54:00:00:00:02', 'admin');
    await new Promise((r) => setImmediate(r));
    expect(driver.log).toEqual(['start relay1 cycle', 'start relay2 on']);
    await driver.drain();
    expect(await Promise.all([a, b, c])).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
    expect(driver.log).toEqual(['start relay1 cycle', 'start relay2 on', 'end relay1 cycle', 'start relay1 off', 'end relay2 on', 'end relay1 off']);
  });

  it('emits an event per action with who asked, and tells the tracker about power-on and off', async () => {
    const { driver, events, observed, service } = setup();
    const done = Promise.all([service.on('52:54:00:00:00:01', 'token:ci'), service.off('52:54:00:00:00:02', 'console')]);
    await driver.drain();
    await done;
    expect(events).toEqual([
      {
        at: 1000,
        type: 'power',
        mac: '52:54:00:00:00:01',
        node: 'node01',
        message: 'power on node01 (channel relay1, gated)',
        by: 'token:ci',
        detail: { action: 'on', channel: 'relay1', driver: 'gated', ok: true },
      },
      {
        at: 1000,
        type: 'power',
        mac: '52:54:00:00:00:02',
        node: 'node02',
        message: 'power off node02 (channel relay2, gated)',
        by: 'console',
        detail: { action: 'off', channel: 'relay2', driver: 'gated', ok: true },
      },
    ]);
    expect(observed).toEqual([
      { kind: 'power_on', mac: '52:54:00:00:00:01', at: 1000, by: 'token:ci' },
      { kind: 'power_off', mac: '52:54:00:00:00:02', at: 1000, by: 'console' },
    ]);
  });

  it('returns failures as values with the driver words, as events too, and keeps the channel usable', async () => {
    const { driver, events, observed, service } = setup();
    driver.failNext = new PowerError('relay1', 'pin_busy', 'GPIO17 is busy');
    const failed = service.on('52:54:00:00:00:01', 'admin');
    const after = service.on('52:54:00:00:00:01', 'admin');
    await driver.drain();
    const outcome = await failed;
    expect(outcome).toMatchObject({ ok: false, error: { code: 'pin_busy', channel: 'relay1' } });
    expect(await after).toEqual({ ok: true });
    expect(events[0]).toMatchObject({
      type: 'power',
      by: 'admin',
      message: 'power on node01 failed: power channel relay1: GPIO17 is busy',
      detail: { ok: false, code: 'pin_busy' },
    });
    expect(observed).toHaveLength(1);

    const noChannel = await service.cycle('52:54:00:00:00:09', 'admin');
    expect(noChannel).toMatchObject({ ok: false, error: { code: 'unknown_channel' } });
    expect(!noChannel.ok && noChannel.error.message).toContain('has no power channel; set its power_channel to one of: relay1, relay2');
    const ghost = await service.on('52:54:00:00:00:03', 'admin');
    expect(!ghost.ok && ghost.error.message).toContain('names power channel ghost, which the configuration does not define');
    expect(await service.switchChannel('nope', 'on', 'console')).toMatchObject({ ok: false, error: { code: 'unknown_channel' } });
  });

  it('reads state through the queue and closes each driver once', async () => {
    const { driver, service } = setup();
    const on = service.on('52:54:00:00:00:01', 'admin');
    const state = service.state('52:54:00:00:00:01');
    await driver.drain();
    await on;
    expect(await state).toEqual({ ok: true, state: 'on', readable: true });
    await service.close();
    expect(driver.closed).toBe(true);
  });
});
