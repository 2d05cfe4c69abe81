// What the browser tests need from "a rackboot": a base URL, the setup token,
// and two ways to make things happen that the UI then has to show. The fake
// API (fake-api-server.ts) implements it today; pointing the tests at the real
// rackboot means implementing this interface with a RackbootProcess (setup
// token from its log, stages from the storm simulator or a QEMU node, profile
// removal by rewriting the config and reloading it).

import type { WebAssets } from '../../firmware/src/http/ui.js';
import type { BootStage, Diagnosis } from '../../firmware/src/model/boot.js';
import { fakeMac, startFakeApi } from './fake-api-server.js';

export interface UiTestTarget {
  baseUrl: string;
  /** The one-time setup token (only meaningful before setup). */
  setupToken: string;
  /** The MAC of the i-th node (1-based); nodes are named node-0001, node-0002, ... and all have a power channel. */
  mac(index: number): string;
  /** Makes a node reach a stage (optionally with a diagnosis); the UI learns it over SSE. */
  moveStage(mac: string, stage: BootStage, options?: { at?: number; diagnosis?: Diagnosis; detail?: string }): void | Promise<void>;
  /** Makes a boot profile disappear from the configuration (as a config reload would). */
  removeProfile(name: string): void | Promise<void>;
  close(): Promise<void>;
}

export interface FakeTargetOptions {
  assets: WebAssets;
  nodes?: number;
  /** Set: setup is done with this password. Unset: the appliance waits for setup. */
  password?: string;
}

export async function startFakeTarget(options: FakeTargetOptions): Promise<UiTestTarget> {
  const fake = await startFakeApi(options);
  return {
    baseUrl: fake.baseUrl,
    setupToken: fake.setupToken,
    mac: fakeMac,
    moveStage: (mac, stage, opts) => fake.setStage(mac, stage, opts),
    removeProfile: (name) => {
      if (!fake.profiles.delete(name)) throw new Error(`fake: no profile ${name}`);
    },
    close: () => fake.close(),
  };
}
