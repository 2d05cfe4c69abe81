// What the REST API needs from the rest of rackboot, as one small interface that
// app/api-host.ts (AppApiHost) implements over the inventory, the boot tracker,
// the event log, the lease table, power and the configuration. The API
// validates input before calling it and maps what it throws to HTTP answers
// (see errors.ts): throw ApiHostError for a refusal, or an InventoryError-like
// error ({code: 'bad_request' | 'conflict' | 'not_found', field}); anything
// else is a 500 whose details stay in the log.

import type { BootStage, Diagnosis } from '../../model/boot.js';
import type { EventType } from '../../model/event.js';
import type { Mac } from '../../net/addr.js';
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
} from '../../model/api.js';

export type Awaitable<T> = T | Promise<T>;

/** A refusal from the app: becomes an ApiError with this status. */
export class ApiHostError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiHostError';
  }
}

export interface NodeFilter {
  stage?: BootStage;
  diagnosis?: Diagnosis;
  /** Free text: matches name, MAC, IP, tags, notes (the host decides how). */
  q?: string;
  tag?: string;
}

/** GET /api/v1/events: all fields optional; `after` is an event id (SSE resume). Same shape as inventory/events.ts's EventQuery. */
export interface EventsQuery {
  mac?: Mac;
  type?: readonly EventType[];
  since?: number;
  after?: number;
  limit?: number;
}

export type PowerAction = 'on' | 'off' | 'cycle';

/** `by` says who asked: "admin" (session) or "token:<name>". */
export interface ApiHost {
  status(): Awaitable<ApplianceStatus>;
  listNodes(filter: NodeFilter): Awaitable<NodeView[]>;
  /** By MAC (normalised) or name; undefined when there is none. */
  getNode(id: string): Awaitable<NodeView | undefined>;
  createNode(input: NodeCreate, by: string): Awaitable<NodeView>;
  /** id: the node's MAC (the API resolves names first). Null or '' for ip/profile/powerChannel/nextBootProfile clears them. */
  updateNode(mac: Mac, patch: NodeUpdate, by: string): Awaitable<NodeView>;
  deleteNode(mac: Mac, by: string): Awaitable<void>;
  approveNode(mac: Mac, by: string): Awaitable<NodeView>;
  /** null clears a pending one-shot profile. */
  setNextBoot(mac: Mac, profile: string | null, by: string): Awaitable<NodeView>;
  /** The node's events, oldest first. */
  timeline(mac: Mac): Awaitable<RackbootEvent[]>;
  power(mac: Mac, action: PowerAction, by: string): Awaitable<PowerResult>;
  powerAll(request: PowerAllRequest, by: string): Awaitable<PowerResult[]>;
  leases(): Awaitable<LeaseView[]>;
  /** Oldest first. */
  events(query: EventsQuery): Awaitable<RackbootEvent[]>;
  /** Live events as they are appended; returns the unsubscribe function. */
  subscribeEvents(listener: (event: RackbootEvent) => void): () => void;
  stats(): Awaitable<BootStats>;
  profiles(): Awaitable<ProfileView[]>;
  config(): Awaitable<ConfigView>;
  patchConfig(patch: ConfigPatch, by: string): Awaitable<ConfigView>;
  /**
   * The booted OS called back: confirms the node's current boot when `token` is that
   * boot's token (constant-time check), else changes nothing and answers false.
   */
  confirmBoot(mac: Mac, token: string | undefined): Awaitable<boolean>;
}
