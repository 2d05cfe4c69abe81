// The REST API's wire contract (JSON over HTTP, under /api/v1): request and
// response shapes shared by the server (firmware/src/http/api), the web UI
// (web/) and the console. Changing a shape here changes the product's API.
//
// Conventions
// - Errors: 4xx/5xx with `ApiError` as the body. 400 bad input (field named),
//   401 not logged in, 403 CSRF or not allowed, 404 no such thing, 409 conflict
//   (duplicate name/MAC), 429 rate limited (with Retry-After), 503 not ready.
// - Auth: every route except those marked PUBLIC needs a session cookie
//   (`rackboot_session`, HttpOnly, SameSite=Strict, Path=/) or an
//   `Authorization: Bearer <api token>` header. State-changing requests
//   (POST/PUT/PATCH/DELETE) made with a session cookie also need the header
//   `X-CSRF-Token: <csrfToken from the session>`; bearer tokens need none.
// - Times are milliseconds since the epoch (numbers). MACs lower case with colons.
//
// Routes
//   GET    /api/v1/auth/state                       PUBLIC  -> AuthState
//   POST   /api/v1/auth/setup      SetupRequest     PUBLIC  -> SessionInfo (+ Set-Cookie); 403 once set up
//   POST   /api/v1/auth/login      LoginRequest     PUBLIC  -> SessionInfo (+ Set-Cookie); 401 wrong, 429 too many
//   POST   /api/v1/auth/logout                              -> {}
//   GET    /api/v1/auth/session                             -> SessionInfo
//   POST   /api/v1/auth/password   PasswordChange           -> {}
//   GET    /api/v1/auth/tokens                              -> ApiTokenInfo[]
//   POST   /api/v1/auth/tokens     {name}                   -> ApiTokenCreated (the secret is shown once)
//   DELETE /api/v1/auth/tokens/:name                        -> {}
//
//   GET    /api/v1/status                                   -> ApplianceStatus
//   GET    /api/v1/nodes?stage=&diagnosis=&q=&tag=          -> NodeView[]
//   POST   /api/v1/nodes           NodeCreate               -> NodeView (201)
//   GET    /api/v1/nodes/:id                                -> NodeView       (:id is the MAC or the name)
//   PATCH  /api/v1/nodes/:id       NodeUpdate               -> NodeView
//   DELETE /api/v1/nodes/:id                                -> {}
//   GET    /api/v1/nodes/:id/timeline                       -> RackbootEvent[] (oldest first)
//   POST   /api/v1/nodes/:id/approve                        -> NodeView
//   POST   /api/v1/nodes/:id/power     PowerRequest         -> PowerResult
//   POST   /api/v1/nodes/:id/next-boot {profile}            -> NodeView       (re-image: one-shot profile)
//   POST   /api/v1/power               PowerAllRequest      -> PowerResult[]  (the whole rack, sequenced)
//   GET    /api/v1/leases                                   -> LeaseView[]
//   GET    /api/v1/events?mac=&type=&since=&after=&limit=   -> RackbootEvent[] (oldest first; after = event id)
//   GET    /api/v1/events/stream   (text/event-stream; `id:` = event id, `event:` = type, `data:` = RackbootEvent JSON;
//                                    honours Last-Event-ID; a comment line every 15 s keeps proxies open)
//   GET    /api/v1/stats                                    -> BootStats
//   GET    /api/v1/profiles                                 -> ProfileView[]
//   GET    /api/v1/config                                   -> ConfigView
//   PATCH  /api/v1/config          ConfigPatch              -> ConfigView    (only the keys in ConfigPatch)
//   GET    /api/v1/booted?mac=&token=  PUBLIC (the booted OS calls it with its boot's token; also accepts POST) -> 204, 403 without the token
//   GET    /metrics                PUBLIC (Prometheus text format 0.0.4)

import type { BootStage, Diagnosis, EvidenceItem } from './boot.js';
import type { RackbootEvent } from './event.js';
import type { NodeRecord } from './node.js';
import type { PowerState } from './power.js';

export interface ApiError {
  error: string; //     machine-readable: 'bad_request', 'unauthorized', 'csrf', 'not_found', 'conflict', 'rate_limited', ...
  message: string; //   for people: "name: expected a host name (letters, digits, '-'), found 'a b'"
  field?: string; //    the offending field, for forms
}

export interface AuthState {
  /** False until the admin password has been set with the setup token. */
  setupDone: boolean;
  /** Whether the request carries a valid session or token. */
  authenticated: boolean;
}

export interface SetupRequest {
  token: string;
  password: string;
}
export interface LoginRequest {
  password: string;
}
export interface PasswordChange {
  current: string;
  password: string;
}
export interface SessionInfo {
  user: 'admin';
  csrfToken: string;
  expiresAt: number;
}
export interface ApiTokenInfo {
  name: string;
  createdAt: number;
  lastUsedAt?: number;
}
export interface ApiTokenCreated extends ApiTokenInfo {
  token: string;
}

export type NodeLoader = 'ipxe' | 'grub' | 'rpi';

/** A node as the API shows it: the inventory record plus its boot state and power state. */
export interface NodeView extends NodeRecord {
  stage: BootStage;
  diagnosis?: Diagnosis;
  diagnosisDetail?: string;
  stageSince: number;
  bootStartedAt?: number;
  lastSeenAt?: number;
  firmware?: string;
  /**
   * The boot loader rackboot hands the node: the one its last boot got, or the one it
   * would get (boot-policy/loader.ts). 'rpi': the Raspberry Pi's own bootloader, which
   * loads its files by TFTP and runs no loader from rackboot.
   */
  loader: NodeLoader;
  /** The node's platform as its boot firmware's last DHCP request said ("x64 UEFI", "arm64 UEFI HTTP", "x86 BIOS"); unset until seen. */
  arch?: string;
  /** The address the node has now (lease or last seen), which may differ from the fixed `ip`. */
  currentIp?: string;
  boots: number;
  booted: number;
  dhcpAcks: number;
  evidence: EvidenceItem[];
  power: PowerState;
  recovery: NodeRecovery;
}

/** Automatic power-cycling of the node after a failed boot (docs/power.md). */
export interface NodeRecovery {
  /** Recovery would power-cycle this node after a failed boot: it has a power channel and recovery is on for it. */
  on: boolean;
  /** Recovery power-cycles since an operator last switched the node. */
  attempts: number;
  /** While an operator's power-on or cycle is recent, recovery waits: when that boot window ends. */
  bootWindowEndsAt?: number;
}

export interface NodeCreate {
  mac: string;
  name?: string;
  ip?: string;
  profile?: string;
  powerChannel?: string;
  tags?: string[];
  notes?: string;
}
export type NodeUpdate = Partial<Omit<NodeCreate, 'mac'>> & { nextBootProfile?: string | null };

export interface PowerRequest {
  action: 'on' | 'off' | 'cycle';
}
export interface PowerAllRequest {
  action: 'on' | 'off' | 'cycle';
  /** default: every node with a power channel */ nodes?: string[];
}
export interface PowerResult {
  mac: string;
  name: string;
  action: 'on' | 'off' | 'cycle';
  ok: boolean;
  state: PowerState;
  message?: string;
}

export interface LeaseView {
  ip: string;
  mac: string;
  state: string; // 'offered' | 'bound' | 'expired' | 'released' | 'declined'
  hostname?: string;
  expiresAt: number;
  node?: string; // the inventory name, when known
}

export interface ApplianceStatus {
  version: string;
  uptimeSeconds: number;
  hostname: string;
  interface: string;
  address: string;
  mode: 'dhcp' | 'proxy';
  httpPort: number;
  tftpPort: number;
  nodes: number;
  nodesByStage: Partial<Record<BootStage, number>>;
  activeTftpTransfers: number;
  /** TFTP transfer slots taken; absent where no TFTP server runs. */
  tftpSlotsInUse?: number;
  activeHttpDownloads: number;
  counters: Record<string, number>;
}

export interface BootStats {
  nodesByStage: Partial<Record<BootStage, number>>;
  nodesByDiagnosis: Partial<Record<Diagnosis, number>>;
  bootsStarted: number;
  bootsCompleted: number;
  /** Boot durations (first observation to booted), seconds, over completed boots since start. */
  bootSeconds: { count: number; min?: number; median?: number; p95?: number; max?: number };
  /** DHCP ACKs per completed boot, by firmware class. */
  dhcpAcksPerBoot: Record<string, { boots: number; acks: number }>;
}

export interface ProfileView {
  name: string;
  kind: 'linux' | 'chain' | 'local' | 'menu';
  /** The profile's settings as in the config (kernel, initrds, cmdline, url, items...). */
  settings: Record<string, unknown>;
  isDefault: boolean;
}

export interface ConfigView {
  source: string;
  interface: string;
  mode: 'dhcp' | 'proxy';
  serverAddress: string;
  defaultProfile: string;
  unknownNodes: 'boot' | 'hold';
  /** The rest of the effective configuration, read-only, as JSON. */
  effective: Record<string, unknown>;
}

/** The settings that can change at run time without a restart. Validation errors use ApiError.field. */
export interface ConfigPatch {
  defaultProfile?: string;
  unknownNodes?: 'boot' | 'hold';
}

export type { RackbootEvent };
