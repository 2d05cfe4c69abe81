// The `options:` section: DHCP options handed to every client (router, DNS
// servers, domain, NTP servers).

import type { Ipv4 } from '../../net/addr.js';
import type { OptionsConfig } from '../schema.js';
import { domainSpec, ipv4Spec } from '../value-specs.js';
import type { DocumentReader, MapView } from '../yaml-reader.js';

export const OPTIONS_KEYS = ['router', 'dns', 'domain', 'ntp'] as const;

/** The options as read; router and domain are undefined when absent or wrong (reported), wrong list items are left out. */
export type OptionsDraft = OptionsConfig;

export function readOptionsSection(r: DocumentReader, top: MapView): OptionsDraft {
  const options = r.section(top, 'options', OPTIONS_KEYS);
  return {
    router: options.get('router', ipv4Spec),
    dns: readAddressList(r, options, 'dns'),
    domain: options.get('domain', domainSpec),
    ntp: readAddressList(r, options, 'ntp'),
  };
}

/** `dns`/`ntp` (and `dhcp.relays`): a list of addresses, or one address; wrong items are reported and left out. */
export function readAddressList(r: DocumentReader, view: MapView, key: string): Ipv4[] {
  const keyPath = view.path(key);
  const items = r.list(view.node(key), keyPath, 'a list of IPv4 addresses like [10.0.0.1], or one address', true) ?? [];
  return items.map((item) => r.item(item.node, item.keyPath, ipv4Spec)).filter((ip): ip is Ipv4 => ip !== undefined);
}

/** The options with the absent ones left out rather than undefined. */
export function toOptionsConfig(options: OptionsDraft): OptionsConfig {
  return {
    ...(options.router !== undefined && { router: options.router }),
    dns: options.dns,
    ...(options.domain !== undefined && { domain: options.domain }),
    ntp: options.ntp,
  };
}
