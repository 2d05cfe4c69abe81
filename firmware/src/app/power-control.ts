// What the API, the console and the boot tracker ask of node power. The power
// service (power/) fulfils it when a `power:` section configures channels; without
// one every node reads as `unknown` and actions are refused with the reason.

import type { Mac } from '../net/addr.js';
import type { PowerState } from '../model/power.js';
import type { NodeRecovery, PowerResult } from '../model/api.js';
import { ApiHostError, type PowerAction } from '../http/api/host.js';

export interface PowerControl {
  /** The channel names a node's powerChannel may name. */
  channels(): string[];
  /** Last known state of the node's channel (`unknown` when it has none or cannot read back). */
  stateOf(mac: Mac): PowerState;
  /** Whether recovery is on for the node, its attempts and boot window. */
  recoveryOf(mac: Mac): NodeRecovery;
  act(mac: Mac, action: PowerAction, by: string): Promise<PowerResult>;
  /** Several nodes (default: every node with a channel), sequenced with the configured stagger. */
  actAll(action: PowerAction, macs: Mac[] | undefined, by: string): Promise<PowerResult[]>;
  close(): Promise<void>;
}

const noPower = (): ApiHostError =>
  new ApiHostError(409, 'no_power', 'rackboot has no power channels configured (add a power: section to the configuration)', 'action');

/** No power configured: nothing to switch, and each request says why. */
export const NO_POWER: PowerControl = {
  channels: () => [],
  stateOf: () => 'unknown',
  recoveryOf: () => ({ on: false, attempts: 0 }),
  act: () => Promise.reject(noPower()),
  actAll: () => Promise.reject(noPower()),
  close: async () => {},
};
