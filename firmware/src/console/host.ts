// What the serial console needs from the rest of rackboot. The console codes
// only against this interface; app/console-host.ts (AppConsoleHost) implements
// it over the API host, the inventory, the event log, power control, auth and
// the system's network settings.
// Every method may throw: the console prints the error's message and carries on.

import type { ApplianceStatus, LeaseView, NodeView, PowerResult, ProfileView, RackbootEvent } from '../model/api.js';

export type PowerAction = 'on' | 'off' | 'cycle';

/** The appliance's own address on its cluster-facing interface. */
export interface NetworkSettings {
  interface: string;
  /** Undefined when the interface has no IPv4 address. */
  address?: string;
  prefix?: number;
  gateway?: string;
}

/** A new address for the appliance, already validated by the console. */
export interface NetworkChange {
  address: string;
  prefix: number;
  gateway?: string;
}

/** The management plane's HTTPS certificate, as the `tls` command shows it. */
export interface ManagementTls {
  /** SHA-256 fingerprint of the certificate, "AB:CD:…". */
  sha256: string;
  /** curl --pinnedpubkey form of its key: "sha256//BASE64". */
  pin: string;
  source: 'generated' | 'operator';
  certFile: string;
  /** Where HTTPS listens: "10.0.0.1:443", "*:443". */
  listen: string[];
}

export interface ConsoleHost {
  status(): Promise<ApplianceStatus>;
  nodes(): Promise<NodeView[]>;
  /** `id` is a node name or MAC; undefined when there is no such node. */
  node(id: string): Promise<NodeView | undefined>;
  /** The node's events, oldest first. */
  timeline(mac: string): Promise<RackbootEvent[]>;
  leases(): Promise<LeaseView[]>;
  /** `target` is a node name or MAC, or 'all' for every node with a power channel (sequenced). */
  power(target: string, action: PowerAction, by: string): Promise<PowerResult[]>;
  /** Sets the one-shot profile of the node's next boot. */
  setNextBoot(id: string, profile: string, by: string): Promise<NodeView>;
  profiles(): Promise<ProfileView[]>;
  /** Calls `listener` for every new event until the returned function is called. */
  subscribeEvents(listener: (event: RackbootEvent) => void): () => void;
  network(): Promise<NetworkSettings>;
  /** Applies a new address; rejects with a message for people when it cannot. */
  setNetwork(change: NetworkChange, by: string): Promise<void>;
  isSetupDone(): Promise<boolean>;
  /** The management plane's certificate and addresses. */
  tls(): Promise<ManagementTls>;
  /** The one-time web setup token; undefined once setup is done. */
  setupToken(): Promise<string | undefined>;
  verifyPassword(password: string): Promise<boolean>;
  /**
   * Sets the web admin password; rejects with a message for people when the password is refused.
   * `firstSetup`: the caller saw no password set; rejects (already set up) rather than overwrite one set since.
   */
  setPassword(password: string, by: string, firstSetup?: boolean): Promise<void>;
  reboot(by: string): Promise<void>;
  shutdown(by: string): Promise<void>;
}
