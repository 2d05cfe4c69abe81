// PowerService: the one place power actions go through (API, serial console,
// web UI, sequencer, recovery). It maps a node to its channel and the channel to
// its driver, runs one action at a time per channel (a cycle and an "off" must
// not interleave on one relay), and reports every action as an event naming who
// asked. Failures come back as values with the driver's words.

import type { Mac } from '../net/addr.js';
import type { BootObservation } from '../model/boot.js';
import type { PowerState } from '../model/power.js';
import type { RackbootEvent } from '../model/event.js';
import { asPowerError, PowerError, type PowerDriver } from './driver.js';

export type SwitchAction = 'on' | 'off' | 'cycle';

export type PowerOutcome = { ok: true } | { ok: false; error: PowerError };
export type StateOutcome = { ok: true; state: PowerState; readable: boolean } | { ok: false; error: PowerError };

/** An event without the id the event store assigns. */
export type PowerEvent = Omit<RackbootEvent, 'id'>;

export interface PowerServiceHost {
  /** The node's power channel (NodeRecord.powerChannel), undefined when rackboot cannot switch it. */
  channelOf(mac: Mac): string | undefined;
  /** The node's name for event messages. */
  nameOf?(mac: Mac): string | undefined;
  emit(event: PowerEvent): void;
  /** Tells the boot tracker a node was switched on or off (its stage becomes power_on / off). */
  observe?(observation: BootObservation): void;
  now(): number;
}

export class PowerService {
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    /** Channel name -> the driver that switches it. */
    private readonly drivers: ReadonlyMap<string, PowerDriver>,
    private readonly host: PowerServiceHost,
  ) {}

  channels(): string[] {
    return [...this.drivers.keys()];
  }

  hasChannel(channel: string): boolean {
    return this.drivers.has(channel);
  }

  on(mac: Mac, by: string): Promise<PowerOutcome> {
    return this.switchNode(mac, 'on', by);
  }

  off(mac: Mac, by: string): Promise<PowerOutcome> {
    return this.switchNode(mac, 'off', by);
  }

  cycle(mac: Mac, by: string): Promise<PowerOutcome> {
    return this.switchNode(mac, 'cycle', by);
  }

  async state(mac: Mac): Promise<StateOutcome> {
    const resolved = this.resolve(mac);
    if (!resolved.ok) return resolved;
    const { channel, driver } = resolved;
    try {
      const state = await this.serialise(channel, () => driver.state(channel));
      return { ok: true, state, readable: driver.canReadState(channel) };
    } catch (error) {
      return { ok: false, error: asPowerError(channel, error) };
    }
  }

  /** Switches a channel directly (the console's `power CHANNEL on`, channels without a node yet). */
  async switchChannel(channel: string, action: SwitchAction, by: string, mac?: Mac): Promise<PowerOutcome> {
    const driver = this.drivers.get(channel);
    if (!driver) return this.fail(mac, action, by, new PowerError(channel, 'unknown_channel', `no power channel named ${channel} in the configuration`));
    try {
      await this.serialise(channel, () => driver[action](channel));
    } catch (error) {
      return this.fail(mac, action, by, asPowerError(channel, error), channel);
    }
    const at = this.host.now();
    if (mac && (action === 'on' || action === 'cycle')) this.host.observe?.({ kind: 'power_on', mac, at, by });
    if (mac && action === 'off') this.host.observe?.({ kind: 'power_off', mac, at, by });
    this.host.emit({
      at,
      type: 'power',
      ...this.nodeFields(mac),
      message: mac ? `${describe(action)} ${this.label(mac)} (channel ${channel}, ${driver.kind})` : `${describe(action)} channel ${channel} (${driver.kind})`,
      by,
      detail: { action, channel, driver: driver.kind, ok: true },
    });
    return { ok: true };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()]);
    for (const driver of new Set(this.drivers.values())) await driver.close();
  }

  private async switchNode(mac: Mac, action: SwitchAction, by: string): Promise<PowerOutcome> {
    const resolved = this.resolve(mac);
    if (!resolved.ok) return this.fail(mac, action, by, resolved.error);
    return this.switchChannel(resolved.channel, action, by, mac);
  }

  private resolve(mac: Mac): { ok: true; channel: string; driver: PowerDriver } | { ok: false; error: PowerError } {
    const channel = this.host.channelOf(mac);
    if (channel === undefined) {
      return {
        ok: false,
        error: new PowerError(
          '(none)',
          'unknown_channel',
          `${this.label(mac)} has no power channel; set its power_channel to one of: ${this.channels().join(', ') || '(no channels configured)'}`,
        ),
      };
    }
    const driver = this.drivers.get(channel);
    if (!driver)
      return {
        ok: false,
        error: new PowerError(channel, 'unknown_channel', `${this.label(mac)} names power channel ${channel}, which the configuration does not define`),
      };
    return { ok: true, channel, driver };
  }

  /** Runs `task` after every earlier action on `channel` has finished. */
  private serialise<T>(channel: string, task: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(channel) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.queues.set(channel, settled);
    void settled.then(() => {
      if (this.queues.get(channel) === settled) this.queues.delete(channel);
    });
    return next;
  }

  private fail(mac: Mac | undefined, action: SwitchAction, by: string, error: PowerError, channel?: string): PowerOutcome {
    this.host.emit({
      at: this.host.now(),
      type: 'power',
      ...this.nodeFields(mac),
      message: `${describe(action)} ${this.label(mac, channel)} failed: ${error.message}`,
      by,
      detail: { action, channel: error.channel, ok: false, code: error.code },
    });
    return { ok: false, error };
  }

  private nodeFields(mac: Mac | undefined): Pick<PowerEvent, 'mac' | 'node'> {
    if (!mac) return {};
    const node = this.host.nameOf?.(mac);
    return { mac, ...(node !== undefined && { node }) };
  }

  private label(mac: Mac | undefined, channel?: string): string {
    if (!mac) return `channel ${channel}`;
    return this.host.nameOf?.(mac) ?? mac;
  }
}

function describe(action: SwitchAction): string {
  return action === 'on' ? 'power on' : action === 'off' ? 'power off' : 'power cycle';
}
