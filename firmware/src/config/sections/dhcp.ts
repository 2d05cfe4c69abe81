// The `dhcp:` section: limits on what unknown clients may take, and which
// relays' packets are served.

import { DEFAULTS } from '../defaults.js';
import type { DhcpLimitsConfig } from '../schema.js';
import { countSpec, integerSpec } from '../value-specs.js';
import { allRead, type DocumentReader, type MapView } from '../yaml-reader.js';
import { readAddressList } from './options.js';

export const DHCP_KEYS = ['max_offers', 'unknown_share_percent', 'relays'] as const;

/** Undefined when a value was wrong (reported). */
export function readDhcpSection(r: DocumentReader, top: MapView): DhcpLimitsConfig | undefined {
  const dhcp = r.section(top, 'dhcp', DHCP_KEYS);
  return allRead({
    maxOffers: dhcp.getOr('max_offers', countSpec(16, 1_000_000, 'offers'), DEFAULTS.dhcpMaxOffers),
    unknownSharePercent: dhcp.getOr('unknown_share_percent', integerSpec(0, 100, 'a whole percentage from 0 to 100'), DEFAULTS.dhcpUnknownSharePercent),
    relays: readAddressList(r, dhcp, 'relays'),
  });
}
