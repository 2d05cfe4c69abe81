// A node as the inventory records it, and the name it gets when nobody named it.

import type { Ipv4, Mac } from '../net/addr.js';

/** A node of the inventory: seeded from the config's hosts, created through the API, or discovered. */
export interface NodeRecord {
  mac: Mac;
  /** Unique, a valid host name; defaults to node-<mac without colons>. */
  name: string;
  /** Fixed address, when the node has one. */
  ip?: Ipv4;
  /** Boot profile name; undefined means the default profile. */
  profile?: string;
  /** One-shot profile for the next boot only (re-image); cleared when that boot's script is served. */
  nextBootProfile?: string;
  /** Power channel name (see the power configuration); undefined when rackboot cannot switch this node. */
  powerChannel?: string;
  tags: string[];
  notes: string;
  /** Where the record came from. Config-seeded records are re-seeded on start; API edits win over the seed. */
  origin: 'config' | 'api' | 'discovered';
  /** False for discovered nodes under the `hold` policy until someone approves them: they get no boot file. */
  approved: boolean;
  createdAt: number; // ms since epoch
  updatedAt: number;
}

/** "node-525400aabbcc": stable, valid as a host name, and unique per NIC. */
export function defaultNodeName(mac: Mac): string {
  return `node-${mac.replace(/:/g, '')}`;
}
