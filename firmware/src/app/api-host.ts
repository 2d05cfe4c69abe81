// The REST API's view of the running appliance (http/api/host.ts): the
// inventory, the boot tracker, the event log, the lease table, power and the
// run-time settings, put together into the contract's shapes.

import { hostname } from 'node:os';
import { nodeLoader } from '../boot-policy/loader.js';
import type { BootLoader, RackbootConfig } from '../config/schema.js';
import type { LeaseTable } from '../dhcp/leases.js';
import type { BootTracker } from '../boot-tracking/tracker.js';
import type { EventLog } from '../inventory/events.js';
import type { NodeInventory } from '../inventory/nodes.js';
import type { NodeRecord } from '../model/node.js';
import type { Mac } from '../net/addr.js';
import type { Counters } from '../util/counters.js';
import type { Clock } from '../util/clock.js';
import type {
  ApplianceStatus,
  BootStats,
  ConfigPatch,
  ConfigView,
  LeaseView,
  NodeCreate,
  NodeUpdate,
  NodeView,
  PowerAllRequest,
  PowerResult,
  ProfileView,
  RackbootEvent,
} from '../model/api.js';
import { ApiHostError, type ApiHost, type EventsQuery, type NodeFilter, type PowerAction } from '../http/api/host.js';
import type { PowerControl } from './power-control.js';
import type { RuntimeSettings } from './settings.js';

export interface AppApiHostOptions {
  config: RackbootConfig;
  version: string;
  startedAt: number;
  serverAddress: string;
  inventory: NodeInventory;
  tracker: BootTracker;
  events: EventLog;
  leases: LeaseTable;
  counters: Counters;
  clock: Clock;
  power: PowerControl;
  settings: RuntimeSettings;
  /** The loader the boot policy chooses for a node (boot-policy/loader.ts). */
  loaderOf(mac: Mac): BootLoader;
  /** The address a MAC was last seen with on the link. */
  addressOf(mac: Mac): string | undefined;
  /** Confirms the node's current boot when `token` is its boot token (app/boot-tracking.ts). */
  confirmBoot(mac: Mac, token: string | undefined): boolean;
  activeTftpTransfers(): number;
  tftpSlotsInUse(): number;
  activeHttpDownloads(): number;
}

export class AppApiHost implements ApiHost {
  constructor(private readonly opts: AppApiHostOptions) {}

  status(): ApplianceStatus {
    const { config, inventory, tracker, counters, clock } = this.opts;
    return {
      version: this.opts.version,
      uptimeSeconds: Math.floor((clock.now() - this.opts.startedAt) / 1000),
      hostname: hostname(),
      interface: config.interface,
      address: this.opts.serverAddress,
      mode: config.mode,
      httpPort: config.http.port,
      tftpPort: config.tftp.port,
      nodes: inventory.size,
      nodesByStage: tracker.nodesByStage(),
      activeTftpTransfers: this.opts.activeTftpTransfers(),
      tftpSlotsInUse: this.opts.tftpSlotsInUse(),
      activeHttpDownloads: this.opts.activeHttpDownloads(),
      counters: counters.snapshot(),
    };
  }

  listNodes(filter: NodeFilter): NodeView[] {
    const query = filter.q?.toLowerCase();
    return this.opts.inventory
      .list()
      .map((record) => this.view(record))
      .filter(
        (node) =>
          (filter.stage === undefined || node.stage === filter.stage) &&
          (filter.diagnosis === undefined || node.diagnosis === filter.diagnosis) &&
          (filter.tag === undefined || node.tags.includes(filter.tag)) &&
          (query === undefined || searchText(node).includes(query)),
      );
  }

  getNode(id: string): NodeView | undefined {
    const record = this.opts.inventory.get(id);
    return record ? this.view(record) : undefined;
  }

  async createNode(input: NodeCreate, by: string): Promise<NodeView> {
    return this.view(await this.opts.inventory.create(input, by));
  }

  async updateNode(mac: Mac, patch: NodeUpdate, by: string): Promise<NodeView> {
    return this.view(await this.opts.inventory.update(mac, patch, by));
  }

  async deleteNode(mac: Mac, by: string): Promise<void> {
    await this.opts.inventory.remove(mac, by);
  }

  async approveNode(mac: Mac, by: string): Promise<NodeView> {
    return this.view(await this.opts.inventory.approve(mac, by));
  }

  async setNextBoot(mac: Mac, profile: string | null, by: string): Promise<NodeView> {
    return this.view(await this.opts.inventory.setNextBoot(mac, profile, by));
  }

  timeline(mac: Mac): RackbootEvent[] {
    return this.opts.events.timeline(mac);
  }

  power(mac: Mac, action: PowerAction, by: string): Promise<PowerResult> {
    return this.opts.power.act(mac, action, by);
  }

  powerAll(request: PowerAllRequest, by: string): Promise<PowerResult[]> {
    const macs = request.nodes?.map((id) => {
      const record = this.opts.inventory.get(id);
      if (!record) throw new ApiHostError(404, 'not_found', `no node ${JSON.stringify(id)}`, 'nodes');
      return record.mac;
    });
    return this.opts.power.actAll(request.action, macs, by);
  }

  leases(): LeaseView[] {
    const { leases, inventory } = this.opts;
    return leases
      .all()
      .sort((a, b) => ipOrder(a.ip) - ipOrder(b.ip))
      .map((lease) => ({
        ip: lease.ip,
        mac: lease.mac,
        state: lease.state,
        ...(lease.hostname !== undefined && { hostname: lease.hostname }),
        expiresAt: lease.expires,
        ...(inventory.get(lease.mac) && { node: inventory.get(lease.mac)!.name }),
      }));
  }

  events(query: EventsQuery): RackbootEvent[] {
    return this.opts.events.query({ ...query, ...(query.type && { type: [...query.type] }) });
  }

  subscribeEvents(listener: (event: RackbootEvent) => void): () => void {
    return this.opts.events.subscribe(listener);
  }

  stats(): BootStats {
    return this.opts.tracker.stats();
  }

  profiles(): ProfileView[] {
    const { profiles } = this.opts.config.boot;
    const defaultProfile = this.opts.settings.defaultProfile;
    return Object.entries(profiles).map(([name, profile]) => {
      const { kind, ...settings } = profile;
      return { name, kind, settings, isDefault: name === defaultProfile };
    });
  }

  config(): ConfigView {
    const { config, settings, serverAddress } = this.opts;
    return {
      source: config.source,
      interface: config.interface,
      mode: config.mode,
      serverAddress,
      defaultProfile: settings.defaultProfile,
      unknownNodes: settings.unknownNodes,
      effective: JSON.parse(JSON.stringify({ ...config, boot: { ...config.boot, defaultProfile: settings.defaultProfile } })) as Record<string, unknown>,
    };
  }

  async patchConfig(patch: ConfigPatch, by: string): Promise<ConfigView> {
    if (patch.defaultProfile !== undefined && !Object.hasOwn(this.opts.config.boot.profiles, patch.defaultProfile)) {
      const known = Object.keys(this.opts.config.boot.profiles).join(', ');
      throw new ApiHostError(400, 'bad_request', `defaultProfile: no profile ${JSON.stringify(patch.defaultProfile)} (profiles: ${known})`, 'defaultProfile');
    }
    await this.opts.settings.update(patch, by);
    return this.config();
  }

  confirmBoot(mac: Mac, token: string | undefined): boolean {
    return this.opts.confirmBoot(mac, token);
  }

  /** The inventory record with its boot and power state: what the API, UI and console show. */
  view(record: NodeRecord): NodeView {
    const boot = this.opts.tracker.state(record.mac);
    const lease = this.opts.leases.byClient(record.mac);
    // Freshest first: what the link showed last (the booted OS's own ARP), then the boot's, the lease's, the fixed one.
    const currentIp = this.opts.addressOf(record.mac) ?? boot?.ip ?? (lease?.state === 'bound' ? lease.ip : undefined) ?? record.ip;
    return {
      ...record,
      stage: boot?.stage ?? 'off',
      ...(boot?.diagnosis !== undefined && { diagnosis: boot.diagnosis }),
      ...(boot?.diagnosisDetail !== undefined && { diagnosisDetail: boot.diagnosisDetail }),
      stageSince: boot?.stageSince ?? record.createdAt,
      ...(boot?.bootStartedAt !== undefined && { bootStartedAt: boot.bootStartedAt }),
      ...(boot?.lastSeenAt !== undefined && { lastSeenAt: boot.lastSeenAt }),
      ...(boot?.firmware !== undefined && { firmware: boot.firmware }),
      loader: nodeLoader(this.opts.loaderOf(record.mac), boot?.platform),
      ...(boot?.arch !== undefined && { arch: boot.arch }),
      ...(currentIp !== undefined && { currentIp }),
      boots: boot?.boots ?? 0,
      booted: boot?.booted ?? 0,
      dhcpAcks: boot?.dhcpAcks ?? 0,
      evidence: boot?.evidence ?? [],
      power: this.opts.power.stateOf(record.mac),
      recovery: this.opts.power.recoveryOf(record.mac),
    };
  }
}

function searchText(node: NodeView): string {
  return [node.name, node.mac, node.ip ?? '', node.currentIp ?? '', node.profile ?? '', ...node.tags, node.notes].join('\n').toLowerCase();
}

function ipOrder(ip: string): number {
  return ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
}
