// Reads a configuration document's top-level mapping section by section into a
// draft. Each section is read by its module under sections/, in the order the
// sections usually appear in a file, so that problems found on one line stay in
// file order.

import { isMap, type Node as YamlNode } from 'yaml';
import type { ConfigDraft } from './draft.js';
import { checkHostPowerChannels } from './cross-checks.js';
import type { ConfigOverrides } from './schema.js';
import { readBootSection } from './sections/boot.js';
import { readConsoleSection } from './sections/console.js';
import { readDhcpSection } from './sections/dhcp.js';
import { readHostsSection } from './sections/hosts.js';
import { readHttpSection } from './sections/http.js';
import { readInventorySection } from './sections/inventory.js';
import { readLogSection } from './sections/log.js';
import { readOptionsSection } from './sections/options.js';
import { readPoolsSection } from './sections/pools.js';
import { readPowerSection } from './sections/power.js';
import { readTftpSection } from './sections/tftp.js';
import { readTopLevelSettings } from './sections/top-level.js';
import type { DocumentReader, MapView } from './yaml-reader.js';

/** The keys the top-level mapping accepts: the top-level settings and the sections. */
export const TOP_KEYS = [
  'interface',
  'server_address',
  'mode',
  'lease_time',
  'dhcp',
  'state_dir',
  'pools',
  'options',
  'hosts',
  'boot',
  'http',
  'tftp',
  'inventory',
  'power',
  'console',
  'log',
] as const;

/** The draft of the document whose root node is `root`; undefined (reported) when the root is not a mapping. */
export function readDocument(r: DocumentReader, root: YamlNode | undefined, overrides: ConfigOverrides): ConfigDraft | undefined {
  const top = openTopLevel(r, root);
  if (!top) return undefined;
  const settings = readTopLevelSettings(top, overrides);
  const pools = readPoolsSection(r, top);
  const options = readOptionsSection(r, top);
  const hosts = readHostsSection(r, top);
  const boot = readBootSection(r, top, overrides);
  const dhcp = readDhcpSection(r, top);
  const http = readHttpSection(r, top);
  const tftp = readTftpSection(r, top);
  const inventory = readInventorySection(r, top);
  const power = readPowerSection(r, top);
  // Checked as soon as both sections are read, so its problems come before those of later sections on the same line.
  checkHostPowerChannels(r, hosts, power);
  const console = readConsoleSection(r, top);
  const log = readLogSection(r, top);
  return { ...settings, ...pools, options, hosts, boot, dhcp, http, tftp, inventory, power, console, log };
}

/** The top-level mapping with its keys checked. An empty file reads as an empty mapping, so each required key is reported as missing. */
function openTopLevel(r: DocumentReader, root: YamlNode | undefined): MapView | undefined {
  if (root !== undefined && !r.isEmpty(root) && !isMap(root)) {
    r.wrong('(top level)', root, 'a mapping of settings like "interface: eth0"');
    return undefined;
  }
  const top = r.map(root, '', '') ?? r.emptyMap('');
  top.rejectUnknown(TOP_KEYS);
  return top;
}
