// What the sections read from a file, before the checks across sections and
// before normalising. A field is undefined where its value was wrong (already
// reported), so later checks skip it instead of piling a second problem onto
// the first; the configuration is only built from a draft without problems.

import type { ConsoleConfig, DhcpLimitsConfig, HttpConfig, InventoryConfig, LogConfig, PowerConfig, TftpConfig } from './schema.js';
import type { BootDraft } from './sections/boot.js';
import type { HostDraft } from './sections/hosts.js';
import type { OptionsDraft } from './sections/options.js';
import type { PoolsDraft } from './sections/pools.js';
import type { TopLevelDraft } from './sections/top-level.js';

export interface ConfigDraft extends TopLevelDraft, PoolsDraft {
  options: OptionsDraft;
  hosts: HostDraft[];
  boot: BootDraft;
  dhcp: DhcpLimitsConfig | undefined;
  http: HttpConfig | undefined;
  tftp: TftpConfig | undefined;
  inventory: InventoryConfig | undefined;
  power: PowerConfig;
  /** Also undefined when the file has no console section. */
  console: ConsoleConfig | undefined;
  log: LogConfig | undefined;
}
