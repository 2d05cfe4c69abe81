// Node power for the API and the console: the power service (per-channel
// drivers, every action an event) and the sequencer (staggered power-on of many
// nodes, recovery of stalled boots), behind the app's PowerControl interface.

import type { Mac } from '../net/addr.js';
import type { PowerState } from '../model/power.js';
import type { NodeRecovery, PowerResult } from '../model/api.js';
import { ApiHostError, type PowerAction } from '../http/api/host.js';
import type { PowerService, PowerSequencer, PowerOutcome } from '../power/index.js';
import type { PowerControl } from './power-control.js';

export interface ServicePowerOptions {
  service: PowerService;
  sequencer: PowerSequencer;
  /** Every node with a power channel, and a node's name and channel. */
  nodes(): { mac: Mac; name: string; powerChannel?: string }[];
  nameOf(mac: Mac): string;
  channelOf(mac: Mac): string | undefined;
  close(): Promise<void>;
}

export class ServicePowerControl implements PowerControl {
  /** The state after the last action, for drivers that cannot read back (pulse wiring, commands without a state command). */
  private readonly lastKnown = new Map<Mac, PowerState>();

  constructor(private readonly opts: ServicePowerOptions) {}

  channels(): string[] {
    return this.opts.service.channels();
  }

  stateOf(mac: Mac): PowerState {
    return this.opts.channelOf(mac) === undefined ? 'unknown' : (this.lastKnown.get(mac) ?? 'unknown');
  }

  recoveryOf(mac: Mac): NodeRecovery {
    return this.opts.sequencer.recoveryStatus(mac);
  }

  async act(mac: Mac, action: PowerAction, by: string): Promise<PowerResult> {
    if (this.opts.channelOf(mac) === undefined) {
      throw new ApiHostError(
        409,
        'no_power_channel',
        `${this.opts.nameOf(mac)} has no power channel (set powerChannel to one of: ${this.channels().join(', ') || 'none configured'})`,
        'action',
      );
    }
    // An operator's action: recovery attempts start again, and on/cycle opens the node's boot window.
    this.opts.sequencer.operatorAction(mac, action);
    const outcome = await this.opts.service[action](mac, by);
    return this.result(mac, action, outcome);
  }

  async actAll(action: PowerAction, macs: Mac[] | undefined, by: string): Promise<PowerResult[]> {
    const targets =
      macs ??
      this.opts
        .nodes()
        .filter((n) => n.powerChannel !== undefined)
        .map((n) => n.mac);
    if (action === 'on') {
      // The whole rack at once is what the sequencer is for: staggered, never too many early boots.
      const summary = await this.opts.sequencer.powerOn(targets, by).done;
      return [
        ...summary.switchedOn.map((mac) => this.record(mac, 'on', true)),
        ...summary.failed.map((f) => this.record(f.mac, 'on', false, f.message)),
        ...summary.skipped.map((mac) => this.record(mac, 'on', false, 'no power channel')),
        ...summary.cancelled.map((mac) => this.record(mac, 'on', false, 'cancelled')),
      ];
    }
    const results: PowerResult[] = [];
    for (const mac of targets) {
      if (this.opts.channelOf(mac) === undefined) {
        results.push(this.record(mac, action, false, 'no power channel'));
        continue;
      }
      this.opts.sequencer.operatorAction(mac, action);
      results.push(this.result(mac, action, await this.opts.service[action](mac, by)));
    }
    return results;
  }

  async close(): Promise<void> {
    this.opts.sequencer.stop();
    await this.opts.close();
  }

  private result(mac: Mac, action: PowerAction, outcome: PowerOutcome): PowerResult {
    return outcome.ok ? this.record(mac, action, true) : this.record(mac, action, false, outcome.error.message);
  }

  private record(mac: Mac, action: PowerAction, ok: boolean, message?: string): PowerResult {
    if (ok) this.lastKnown.set(mac, action === 'off' ? 'off' : 'on');
    return { mac, name: this.opts.nameOf(mac), action, ok, state: this.stateOf(mac), ...(message !== undefined && { message }) };
  }
}
