// Settings an operator may change while rackboot runs (the web UI's settings
// page, PATCH /api/v1/config): the default boot profile and the policy for
// unknown nodes. They start from the configuration file; a change made at run
// time is kept in the crash-safe store and wins over the file until the file
// itself changes that setting, so editing the file still means what it says.

import { Journal } from '../store/journal.js';
import type { RackbootConfig } from '../config/schema.js';
import type { UnknownNodePolicy } from '../inventory/nodes.js';
import type { Logger } from '../util/log.js';

interface StoredSetting {
  /** The value set at run time. */
  value: string;
  /** The file's value when it was set: when the file says something else now, the file wins. */
  fileValue: string;
  by: string;
  at: number;
}

export interface SettingsChange {
  defaultProfile?: string;
  unknownNodes?: UnknownNodePolicy;
}

export class RuntimeSettings {
  private constructor(
    private readonly journal: Journal<StoredSetting>,
    private readonly file: { defaultProfile: string; unknownNodes: UnknownNodePolicy },
    private current: { defaultProfile: string; unknownNodes: UnknownNodePolicy },
    private readonly onChange: (change: SettingsChange, by: string) => void,
    private readonly now: () => number,
  ) {}

  static async open(
    stateDir: string,
    config: RackbootConfig,
    opts: { log: Logger; now: () => number; onChange: (change: SettingsChange, by: string) => void },
  ): Promise<RuntimeSettings> {
    const journal = await Journal.open<StoredSetting>(stateDir, 'settings', { logger: opts.log, validate: isStoredSetting });
    const file = { defaultProfile: config.boot.defaultProfile, unknownNodes: config.inventory.unknownNodes };
    const current = { ...file };
    const storedProfile = journal.get('defaultProfile');
    if (storedProfile && storedProfile.fileValue === file.defaultProfile && Object.hasOwn(config.boot.profiles, storedProfile.value)) {
      current.defaultProfile = storedProfile.value;
    }
    const storedPolicy = journal.get('unknownNodes');
    if (storedPolicy && storedPolicy.fileValue === file.unknownNodes && (storedPolicy.value === 'boot' || storedPolicy.value === 'hold')) {
      current.unknownNodes = storedPolicy.value;
    }
    if (current.defaultProfile !== file.defaultProfile || current.unknownNodes !== file.unknownNodes) {
      opts.log.info('settings changed at run time override the file', { defaultProfile: current.defaultProfile, unknownNodes: current.unknownNodes });
    }
    return new RuntimeSettings(journal, file, current, opts.onChange, opts.now);
  }

  get defaultProfile(): string {
    return this.current.defaultProfile;
  }

  get unknownNodes(): UnknownNodePolicy {
    return this.current.unknownNodes;
  }

  /** Resolves once the change is durable. */
  async update(change: SettingsChange, by: string): Promise<void> {
    const at = this.now();
    if (change.defaultProfile !== undefined) {
      await this.journal.put('defaultProfile', { value: change.defaultProfile, fileValue: this.file.defaultProfile, by, at });
      this.current.defaultProfile = change.defaultProfile;
    }
    if (change.unknownNodes !== undefined) {
      await this.journal.put('unknownNodes', { value: change.unknownNodes, fileValue: this.file.unknownNodes, by, at });
      this.current.unknownNodes = change.unknownNodes;
    }
    this.onChange(change, by);
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}

function isStoredSetting(value: unknown): value is StoredSetting {
  const v = value as StoredSetting;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.value === 'string' &&
    typeof v.fileValue === 'string' &&
    typeof v.by === 'string' &&
    typeof v.at === 'number'
  );
}
