// The `hosts:` list: known machines by MAC, with a fixed address, a host name,
// a boot profile and a power channel. References to profiles and channels, and
// clashes between hosts, are checked in cross-checks.ts.

import type { Node as YamlNode } from 'yaml';
import type { Ipv4, Mac } from '../../net/addr.js';
import type { BootLoader, HostConfig } from '../schema.js';
import { LOADERS } from './boot.js';
import { enumSpec, hostnameSpec, ipv4Spec, macSpec, profileNameSpec } from '../value-specs.js';
import type { DocumentReader, MapView } from '../yaml-reader.js';

export const HOST_KEYS = ['mac', 'ip', 'hostname', 'profile', 'power_channel', 'loader'] as const;
const HOST_EXPECTED = 'a host like {mac: 52:54:00:00:00:01, ip: 10.0.0.11, hostname: node01}';

/** One host as read; a field is undefined when absent, or wrong (reported) so later checks skip it. */
export interface HostDraft {
  keyPath: string;
  mac?: Mac;
  ip?: Ipv4;
  hostname?: string;
  profile?: string;
  powerChannel?: string;
  loader?: BootLoader;
}

export function readHostsSection(r: DocumentReader, top: MapView): HostDraft[] {
  const items = r.list(top.node('hosts'), 'hosts', `a list of hosts, each ${HOST_EXPECTED.replace(/^a /, '')}`);
  return (items ?? []).map((item) => readHost(r, item.node, item.keyPath));
}

function readHost(r: DocumentReader, node: YamlNode | undefined, keyPath: string): HostDraft {
  const draft: HostDraft = { keyPath };
  const view = r.requiredMap(node, keyPath, HOST_EXPECTED);
  if (!view) return draft;
  view.rejectUnknown(HOST_KEYS);
  draft.mac = view.need('mac', macSpec);
  draft.ip = view.get('ip', ipv4Spec);
  draft.hostname = view.get('hostname', hostnameSpec);
  draft.profile = view.get('profile', profileNameSpec);
  // Channel names follow the same rule as profile names, and are reported with its wording.
  draft.powerChannel = view.get('power_channel', profileNameSpec);
  draft.loader = view.get('loader', enumSpec(LOADERS));
  return draft;
}

/** The normalised host of a draft that was read without problems. */
export function toHostConfig(host: HostDraft): HostConfig {
  return {
    mac: host.mac!,
    ...(host.ip !== undefined && { ip: host.ip }),
    ...(host.hostname !== undefined && { hostname: host.hostname }),
    ...(host.profile !== undefined && { profile: host.profile }),
    ...(host.powerChannel !== undefined && { powerChannel: host.powerChannel }),
    ...(host.loader !== undefined && { loader: host.loader }),
  };
}
