// The settings at the top level of the file: the interface, rackboot's own
// address, the mode, the default lease time and the state directory.

import { DEFAULTS } from '../defaults.js';
import type { Ipv4 } from '../../net/addr.js';
import type { ConfigOverrides, Mode } from '../schema.js';
import { directorySpec, enumSpec, interfaceSpec, ipv4Spec, leaseTimeSpec } from '../value-specs.js';
import type { MapView } from '../yaml-reader.js';

export const MODES = ['dhcp', 'proxy'] as const satisfies readonly Mode[];

/** What was read; a field is undefined when its value was wrong (reported) or is optional and absent. */
export interface TopLevelDraft {
  interface?: string;
  serverAddress?: Ipv4;
  mode?: Mode;
  leaseTime?: number;
  stateDir?: string;
}

/** The interface may be left out when --interface gives it. */
export function readTopLevelSettings(top: MapView, overrides: ConfigOverrides): TopLevelDraft {
  return {
    interface: overrides.interface
      ? top.get('interface', interfaceSpec)
      : top.need('interface', interfaceSpec, `${interfaceSpec.expected}, or --interface on the command line`),
    serverAddress: top.get('server_address', ipv4Spec),
    mode: top.getOr('mode', enumSpec(MODES), DEFAULTS.mode),
    leaseTime: top.getOr('lease_time', leaseTimeSpec, DEFAULTS.leaseTime),
    stateDir: top.getOr('state_dir', directorySpec, DEFAULTS.stateDir),
  };
}
