// The boot stage machine of one node: pure and explicit. `advance` folds one
// observation (what a server saw) into the node's state; `checkStall` applies
// the timing rules at a given moment. Neither reads a clock or does I/O, so
// every rule below can be tested with a scripted sequence of observations.
//
// Rules, and why:
//
// New boot. A boot begins on `power_on`, or on a DISCOVER from boot firmware
// (firmware != 'plain') when the node is off, booted, has a diagnosis, or was
// last seen more than newBootAfterMs ago. Two exceptions keep one failing boot
// from splitting into many: a DISCOVER with the xid of the current DHCP
// exchange is a retransmission (RFC 2131 4.1: a client keeps its xid while it
// retransmits), and while a DHCP-phase diagnosis (no_offer, no_boot_filename)
// stands, further DISCOVERs are that same failure repeating, not a new boot.
// A plain client's DISCOVER is the booted OS's own DHCP and never starts one.
// A boot firmware DISCOVER (not iPXE) after `acknowledged` with a new xid means
// the firmware started over: a new boot.
//
// iPXE. An iPXE DISCOVER in a boot already at `acknowledged` or later is the
// chainloaded iPXE (stage ipxe_dhcp; UEFI HTTP Boot loads it over HTTP without
// a TFTP stage). An iPXE DISCOVER that starts a boot is a native iPXE ROM
// (QEMU's e1000): its ACK leads straight to the script, one DHCP per boot.
//
// Order. Stages only move forward within a boot (BOOT_STAGES order); they may
// skip (proxy mode has no address ACK of ours before TFTP, UEFI HTTP Boot has
// no TFTP). Only a new boot, or power_off, goes back.
//
// Diagnoses (the failure ones stop the boot; the next boot clears them):
//  - no_offer: >= 2 further DISCOVERs after our OFFER with no REQUEST (the
//    node never heard the offer), or, after stallTimeoutMs of silence,
//    DISCOVERs we never answered or a REQUEST we never ACKed (PXE-E51/E55).
//  - no_boot_filename: our OFFER carried no boot file and DISCOVERs repeat, or
//    our ACK carried none and nothing followed within openTimeoutMs.
//  - arp_timeout: after the hand-off (an ACK, or a proxy offer, with a boot
//    file) >= 2 ARP requests from the node and no TFTP/HTTP request within
//    openTimeoutMs: the node cannot reach the server it was given.
//  - tftp_open_timeout: after the hand-off no transfer within openTimeoutMs
//    (HTTP boot files too: the field uses PXE-E32 for "never fetched the boot
//    file"), or a transfer timed out before block 1 was acknowledged.
//  - tftp_read_timeout: a transfer timed out after progress.
//  - tftp_client_error: the transfer ended in a TFTP ERROR (the node's, or our
//    refusal: file not found, access violation); the tsize probe's abort
//    ('aborted_probe') is what PXE ROMs always do and is not an error.
//  - kernel_load_failed: a kernel/initrd (or, before the script, the NBP over
//    HTTP, or the script itself) answered >= 400 or ended early. iPXE scripts
//    retry, so a later success in the same boot clears it and the boot goes on.
//  - took_too_long: the boot has run past bootTimeoutMs; also a stall with no
//    failure to name (the NBP loaded and never did DHCP; a script served and no
//    kernel asked for within stallTimeoutMs). Kernel and initrd stages are not
//    stall-checked: downloads report when they end, and a slow 30 MB initrd
//    during a boot storm is not a failure; bootTimeoutMs bounds them.
//  - booted: the OS called back (os_booted), or the profile's final file (or a
//    script that ends the boot, e.g. a `local` profile) completed and no
//    callback came within bootedFallbackMs (source last_download).
//
// Any failure diagnosis is cleared by progress in the same boot (a REQUEST, a
// transfer start or success, a script, a completed download): the node evidently
// did not stop, so the diagnosis was premature or the retry worked.

import type { Mac } from '../net/addr.js';
import {
  type ClientKind,
  BOOT_STAGES,
  type BootObservation,
  type BootStage,
  type Diagnosis,
  type EvidenceItem,
  type NodeBootState,
  type TftpRole,
  platformName,
} from '../model/boot.js';

export interface BootLimits {
  /** A firmware DISCOVER this long after the node's last observation begins a new boot. */
  newBootAfterMs: number;
  /** After the hand-off, the node must start a transfer within this time. */
  openTimeoutMs: number;
  /** No observation for this long while in a DHCP/NBP/script stage is a stall. */
  stallTimeoutMs: number;
  /** A boot that has not finished after this long took too long. */
  bootTimeoutMs: number;
  /** After the profile's final file, wait this long for the OS callback before concluding `booted`. */
  bootedFallbackMs: number;
}

export const DEFAULT_BOOT_LIMITS: Readonly<BootLimits> = Object.freeze({
  newBootAfterMs: 120_000,
  openTimeoutMs: 30_000,
  stallTimeoutMs: 60_000,
  bootTimeoutMs: 15 * 60_000,
  bootedFallbackMs: 60_000,
});

/** How many observations a node keeps as evidence. */
export const EVIDENCE_ITEMS = 20;
/** Further DISCOVERs after our OFFER (without a REQUEST) that make no_offer. */
const DISCOVERS_AFTER_OFFER = 2;
/** ARP requests after the hand-off (without a transfer) that make arp_timeout. */
const ARPS_AFTER_HANDOFF = 2;

/** One DHCP exchange: the firmware's, then the chainloaded iPXE's. */
export interface DhcpExchange {
  xid?: number;
  discovers: number;
  offers: number;
  offerAt?: number;
  /** The first offer's boot file (undefined: the offer had none). */
  offerBootFile?: string;
  discoversAfterOffer: number;
  requested: boolean;
  acked: boolean;
}

/** The point where the node was told what to load: transfers are expected from here. */
export interface Handoff {
  at: number;
  bootFile?: string;
  proxy: boolean;
  arps: number;
  transferSeen: boolean;
}

export interface TftpProgress {
  file: string;
  startedAt: number;
  lastBlockAcked: number;
  retransmits: number;
  done: boolean;
}

/** What the machine remembers about the current boot beyond the shared NodeBootState. */
export interface BootProgress {
  /** The firmware class that started this boot ('ipxe' for a native iPXE ROM). */
  firmware?: ClientKind;
  /** True when the boot began with a DISCOVER or power_on this process saw (durations are meaningful). */
  startObserved: boolean;
  dhcp: DhcpExchange;
  handoff?: Handoff;
  tftp?: TftpProgress;
  /** When the profile's final file (or a boot-ending script) completed. */
  finalDoneAt?: number;
  finalPath?: string;
  /** How this boot was concluded 'booted'. */
  bootedBy?: 'callback' | 'last_download';
}

export interface BootMachineState extends NodeBootState {
  progress: BootProgress;
}

/** What changed, for events and listeners. */
export type StageChange =
  | { kind: 'stage'; at: number; from: BootStage; to: BootStage; newBoot: boolean }
  | {
      kind: 'diagnosis';
      at: number;
      diagnosis: Diagnosis;
      detail: string;
      evidence: EvidenceItem[];
      /** For booted: how it was concluded, the boot's duration (when its start was seen) and firmware, and its DHCP ACKs. */
      source?: 'callback' | 'last_download';
      durationMs?: number;
      firmware?: ClientKind;
      dhcpAcks?: number;
    }
  | { kind: 'diagnosis_cleared'; at: number; diagnosis: Diagnosis; reason: string };

export interface Transition {
  state: BootMachineState;
  changes: StageChange[];
}

/** Facts about an observation that only the wiring knows (from the node's profile). */
export interface ObservationHints {
  /** The script just served ends the boot as far as rackboot can see (a `local` or `chain` profile). */
  scriptEndsBoot?: boolean;
}

const FAILURES_OF_DHCP_PHASE: ReadonlySet<Diagnosis> = new Set(['no_offer', 'no_boot_filename']);

export function stageIndex(stage: BootStage): number {
  return BOOT_STAGES.indexOf(stage);
}

function freshExchange(): DhcpExchange {
  return { discovers: 0, offers: 0, discoversAfterOffer: 0, requested: false, acked: false };
}

/** A node no boot has been seen for. */
export function initialBootState(mac: Mac, now: number): BootMachineState {
  return {
    mac,
    stage: 'off',
    stageSince: now,
    boots: 0,
    booted: 0,
    dhcpAcks: 0,
    evidence: [],
    progress: { startObserved: false, dhcp: freshExchange() },
  };
}

/** The shared view of a machine state (what the API and the UI show), without the machine's working memory. */
export function publicBootState(state: BootMachineState): NodeBootState {
  const { progress: _progress, ...rest } = state;
  return { ...rest, evidence: [...rest.evidence] };
}

export function isBootInProgress(state: NodeBootState): boolean {
  return state.stage !== 'off' && state.stage !== 'booted' && state.diagnosis === undefined;
}

/** Folds one observation into the state. */
export function advance(state: BootMachineState, obs: BootObservation, limits: BootLimits = DEFAULT_BOOT_LIMITS, hints: ObservationHints = {}): Transition {
  const m = new Machine(state, obs.at);
  const previousSeen = state.lastSeenAt;
  m.s.lastSeenAt = obs.at;
  // A running OS ARPs all day; outside a boot that would only wash the boot's evidence out.
  const noise = obs.kind === 'arp_request' && (state.stage === 'off' || state.stage === 'booted');
  if (!noise) m.note(describeObservation(obs));
  switch (obs.kind) {
    case 'power_on':
      m.newBoot('power_on');
      break;
    case 'power_off':
      m.powerOff();
      break;
    case 'dhcp_discover':
      onDiscover(m, obs, previousSeen, limits);
      break;
    case 'dhcp_offer':
      onOffer(m, obs);
      break;
    case 'dhcp_request':
      if (obs.ip) m.s.ip = obs.ip;
      if (!m.active() && !m.failed()) break;
      m.s.progress.dhcp.requested = true;
      m.progressed('the node sent a DHCP REQUEST');
      break;
    case 'dhcp_ack':
      onAck(m, obs);
      break;
    case 'dhcp_nak':
      break;
    case 'arp_request': {
      const handoff = m.s.progress.handoff;
      if (m.active() && handoff && !handoff.transferSeen && obs.target !== m.s.ip) handoff.arps++;
      break;
    }
    case 'tftp_request':
      onTftpRequest(m, obs.file, obs.role);
      break;
    case 'tftp_retransmit': {
      const tftp = m.s.progress.tftp;
      if (tftp && tftp.file === obs.file) {
        tftp.retransmits = Math.max(tftp.retransmits, obs.count);
        tftp.lastBlockAcked = Math.max(tftp.lastBlockAcked, obs.block - 1);
      }
      break;
    }
    case 'tftp_done': {
      const tftp = m.s.progress.tftp;
      if (tftp && tftp.file === obs.file) tftp.done = true;
      if (m.active() || m.failed()) {
        m.progressed(`TFTP ${obs.file} completed`);
        if (obs.final) {
          m.s.progress.finalDoneAt = obs.at;
          m.s.progress.finalPath = obs.file;
        }
      }
      break;
    }
    case 'tftp_failed':
      onTftpFailed(m, obs);
      break;
    case 'http_script':
      onScript(m, obs, hints);
      break;
    case 'http_download':
      onDownload(m, obs);
      break;
    case 'os_booted':
      m.bootedNow(obs.source);
      break;
  }
  return { state: m.s, changes: m.changes };
}

/** Applies the timing rules at `now`: open timeout, booted fallback, stalls, boot timeout. */
export function checkStall(state: BootMachineState, now: number, limits: BootLimits = DEFAULT_BOOT_LIMITS): Transition {
  if (!isBootInProgress(state)) return { state, changes: [] };
  const p = state.progress;
  const m = new Machine(state, now);

  if (p.finalDoneAt !== undefined) {
    // The OS is starting: silence is expected until the callback or the fallback.
    if (now - p.finalDoneAt >= limits.bootedFallbackMs) m.bootedNow('last_download');
    return m.result(state);
  }

  const handoff = p.handoff;
  if (handoff && !handoff.transferSeen && now - handoff.at >= limits.openTimeoutMs) {
    const waited = seconds(now - handoff.at);
    const what = handoff.proxy ? 'proxy offer' : 'ACK';
    if (handoff.bootFile === undefined) {
      m.diagnose(
        'no_boot_filename',
        `our ${what} at ${clockTime(handoff.at)} carried no boot file (node held, or its architecture has no boot file); nothing followed for ${waited}`,
      );
    } else if (handoff.arps >= ARPS_AFTER_HANDOFF) {
      m.diagnose(
        'arp_timeout',
        `${handoff.arps} ARP requests and no request for ${handoff.bootFile} in ${waited} after our ${what} at ${clockTime(handoff.at)}`,
      );
    } else {
      m.diagnose('tftp_open_timeout', `no request for ${handoff.bootFile} in ${waited} after our ${what} at ${clockTime(handoff.at)}`);
    }
    return m.result(state);
  }

  const quietFor = now - (state.lastSeenAt ?? state.stageSince);
  if (quietFor >= limits.stallTimeoutMs) {
    const stalled = stallDiagnosis(state, quietFor);
    if (stalled) {
      m.diagnose(stalled.diagnosis, stalled.detail);
      return m.result(state);
    }
  }

  if (state.bootStartedAt !== undefined && now - state.bootStartedAt >= limits.bootTimeoutMs) {
    m.diagnose(
      'took_too_long',
      `boot running for ${seconds(now - state.bootStartedAt)} (limit ${seconds(limits.bootTimeoutMs)}), still at ${state.stage} since ${clockTime(state.stageSince)}`,
    );
  }
  return m.result(state);
}

/** What a silence of `quietFor` means at the node's stage, when it means anything. */
function stallDiagnosis(state: BootMachineState, quietFor: number): { diagnosis: Diagnosis; detail: string } | undefined {
  const p = state.progress;
  const dhcp = p.dhcp;
  const quiet = seconds(quietFor);
  switch (state.stage) {
    case 'dhcp_discover':
    case 'offered':
    case 'ipxe_dhcp':
      if (dhcp.acked) return undefined; // the hand-off rule covers it
      if (dhcp.offers === 0 && dhcp.discovers > 0)
        return { diagnosis: 'no_offer', detail: `rackboot sent no OFFER for ${dhcp.discovers} DISCOVER(s); nothing for ${quiet}` };
      if (dhcp.offers > 0 && dhcp.offerBootFile === undefined)
        return { diagnosis: 'no_boot_filename', detail: `our OFFER at ${clockTime(dhcp.offerAt!)} carried no boot file; nothing for ${quiet}` };
      if (dhcp.offers > 0 && !dhcp.requested)
        return { diagnosis: 'no_offer', detail: `no REQUEST after our OFFER at ${clockTime(dhcp.offerAt!)}; nothing for ${quiet}` };
      if (dhcp.requested) return { diagnosis: 'no_offer', detail: `the node's REQUEST got no ACK from rackboot; nothing for ${quiet}` };
      return undefined;
    case 'nbp_tftp': {
      const tftp = p.tftp;
      if (tftp && !tftp.done) {
        return tftp.lastBlockAcked > 0
          ? { diagnosis: 'tftp_read_timeout', detail: `${tftp.file}: no progress for ${quiet} after block ${tftp.lastBlockAcked}` }
          : { diagnosis: 'tftp_open_timeout', detail: `${tftp.file}: requested, no block acknowledged in ${quiet}` };
      }
      return { diagnosis: 'took_too_long', detail: `stalled: ${tftp?.file ?? 'the boot program'} loaded, then no iPXE DHCP for ${quiet}` };
    }
    case 'script':
      return { diagnosis: 'took_too_long', detail: `stalled: boot script served at ${clockTime(state.stageSince)}, no kernel requested for ${quiet}` };
    default:
      return undefined;
  }
}

// ---- per observation --------------------------------------------------------

type Obs<K extends BootObservation['kind']> = Extract<BootObservation, { kind: K }>;

function onDiscover(m: Machine, obs: Obs<'dhcp_discover'>, previousSeen: number | undefined, limits: BootLimits): void {
  if (obs.firmware === 'plain') return; // the OS's own DHCP: evidence only
  const s = m.s;
  const before = s.progress;
  const retransmit = before.dhcp.xid === obs.xid && before.dhcp.discovers > 0 && s.stage !== 'off' && s.stage !== 'booted';
  const stale = previousSeen === undefined || obs.at - previousSeen > limits.newBootAfterMs;
  const firmwareRestart = !obs.ipxe && stageIndex(s.stage) >= stageIndex('acknowledged') && !retransmit;
  // no_offer / no_boot_filename: the node keeps DISCOVERing because of them; that is the failure going on.
  const dhcpPhaseFailure = s.diagnosis !== undefined && FAILURES_OF_DHCP_PHASE.has(s.diagnosis);

  let begins: boolean;
  if (s.stage === 'power_on')
    begins = false; // the power-on began this boot; POST can outlast newBootAfterMs
  else if (s.stage === 'off' || s.stage === 'booted' || stale) begins = true;
  else if (s.diagnosis !== undefined) begins = !retransmit && (!dhcpPhaseFailure || firmwareRestart);
  else begins = firmwareRestart;

  const refused = firmwareRestart && !retransmit ? secureBootRefusal(s, obs.firmware) : undefined;
  if (refused) m.diagnose('secure_boot_refused', refused);
  if (begins) m.newBoot('dhcp_discover');
  const p = s.progress; // newBoot replaced it
  p.firmware ??= obs.firmware; // the first DISCOVER of the boot names its firmware
  s.firmware = obs.firmware;
  notePlatform(s, obs);

  const dhcp = p.dhcp;
  const laterStage = stageIndex(s.stage) >= stageIndex('acknowledged');
  if (!retransmit && !begins && (dhcp.requested || dhcp.acked || (obs.ipxe && laterStage && dhcp.xid !== obs.xid))) {
    // The client started a new exchange (after a NAK, or iPXE after the firmware's): count afresh.
    p.dhcp = freshExchange();
  }
  const current = p.dhcp;
  current.xid = obs.xid;
  current.discovers++;

  if (obs.ipxe && laterStage) {
    if (stageIndex(s.stage) < stageIndex('ipxe_dhcp')) m.progressed('iPXE started');
    m.moveTo('ipxe_dhcp');
  } else {
    m.moveTo('dhcp_discover');
  }

  if (current.offers > 0 && !current.requested && !current.acked) {
    current.discoversAfterOffer++;
    if (current.discoversAfterOffer >= DISCOVERS_AFTER_OFFER && s.diagnosis === undefined) {
      if (current.offerBootFile === undefined) {
        m.diagnose(
          'no_boot_filename',
          `${current.discoversAfterOffer} DISCOVERs after our OFFER at ${clockTime(current.offerAt!)}, which carried no boot file (node held, or its architecture has no boot file)`,
        );
      } else {
        m.diagnose(
          'no_offer',
          `${current.discoversAfterOffer} DISCOVERs after our OFFER at ${clockTime(current.offerAt!)} and no REQUEST: the node does not receive or accept our offers`,
        );
      }
    }
  }
}

/**
 * The node's platform from a boot client's DISCOVER or ACK. An iPXE chainloaded in
 * this boot says less than the firmware that loaded it (an x64 iPXE started by UEFI
 * HTTP Boot sends option 93 = 7), so it names the platform only for a native iPXE
 * ROM's boot, or when nothing was known.
 */
function notePlatform(s: BootMachineState, obs: Obs<'dhcp_discover'> | Obs<'dhcp_ack'>): void {
  if (obs.firmware === 'ipxe' && s.platform !== undefined && s.progress.firmware !== 'ipxe') return;
  const name = platformName(obs.firmware, obs.arch);
  if (name === undefined && obs.firmware === 'ipxe' && s.platform !== undefined) return;
  s.platform = obs.firmware;
  if (name !== undefined) s.arch = name;
  else delete s.arch;
}

function onOffer(m: Machine, obs: Obs<'dhcp_offer'>): void {
  const s = m.s;
  if (obs.ip) s.ip = obs.ip;
  if (!m.active()) return;
  const dhcp = s.progress.dhcp;
  if (dhcp.offers === 0) {
    dhcp.offerAt = obs.at;
    dhcp.offerBootFile = obs.bootFile;
  }
  dhcp.offers++;
  // Proxy mode: the address comes from the site's server, so our offer is the hand-off.
  if (obs.proxy && obs.bootFile !== undefined && !dhcp.acked) setHandoff(m, obs.at, obs.bootFile, true);
  m.moveTo('offered');
}

function onAck(m: Machine, obs: Obs<'dhcp_ack'>): void {
  const s = m.s;
  if (obs.ip) s.ip = obs.ip;
  if (obs.firmware === 'plain' || (!m.active() && !m.failed())) return; // the OS renewing its lease, or a finished boot
  s.firmware = obs.firmware;
  notePlatform(s, obs);
  s.dhcpAcks++;
  const dhcp = s.progress.dhcp;
  dhcp.acked = true;
  m.progressed('the node completed DHCP');
  setHandoff(m, obs.at, obs.bootFile, obs.proxy);
  m.moveTo('acknowledged');
}

function setHandoff(m: Machine, at: number, bootFile: string | undefined, proxy: boolean): void {
  m.s.progress.handoff = { at, bootFile, proxy, arps: 0, transferSeen: false };
}

function transferStarted(m: Machine): void {
  const handoff = m.s.progress.handoff;
  if (handoff) handoff.transferSeen = true;
}

function onTftpRequest(m: Machine, file: string, role: TftpRole | undefined): void {
  if (!m.active() && !m.failed()) return;
  transferStarted(m);
  m.s.progress.tftp = { file, startedAt: m.at, lastBlockAcked: 0, retransmits: 0, done: false };
  m.progressed(`TFTP request for ${file}`);
  m.moveTo(role ?? 'nbp_tftp');
}

/**
 * UEFI firmware with Secure Boot on reads a boot program whole, finds it unsigned (or
 * signed by a key it does not trust), and goes on to its next boot option, which asks
 * DHCP again: the boot program was the only thing the node read, completely, and the
 * next thing it did was a firmware DISCOVER.
 */
function secureBootRefusal(s: BootMachineState, firmware: ClientKind): string | undefined {
  const p = s.progress;
  const tftp = p.tftp;
  if (!firmware.startsWith('uefi-') || s.stage !== 'nbp_tftp' || s.diagnosis !== undefined) return undefined;
  if (!tftp?.done || p.handoff?.bootFile === undefined || tftp.file.replace(/^\/+/, '') !== p.handoff.bootFile.replace(/^\/+/, '')) return undefined;
  return `${tftp.file} was read whole by TFTP and the node asked DHCP again without asking for anything else: the firmware refused to run it (Secure Boot on and ${tftp.file} not signed by a key it trusts?)`;
}

function onTftpFailed(m: Machine, obs: Obs<'tftp_failed'>): void {
  if (obs.reason === 'aborted_probe' || !m.active()) return;
  const tftp = m.s.progress.tftp;
  if (tftp && tftp.file === obs.file) {
    tftp.lastBlockAcked = Math.max(tftp.lastBlockAcked, obs.lastBlockAcked);
    tftp.retransmits = Math.max(tftp.retransmits, obs.retransmits);
  }
  const facts = `after block ${obs.lastBlockAcked}, ${obs.retransmits} retransmits: ${obs.detail}`;
  if (stageIndex(m.s.stage) >= stageIndex('script')) {
    m.diagnose('kernel_load_failed', `TFTP ${obs.file} failed (${obs.reason}) ${facts}`);
    return;
  }
  switch (obs.reason) {
    case 'timeout':
      if (obs.lastBlockAcked > 0) m.diagnose('tftp_read_timeout', `TFTP ${obs.file}: the node stopped acknowledging ${facts}`);
      else m.diagnose('tftp_open_timeout', `TFTP ${obs.file}: block 1 never acknowledged (${obs.retransmits} retransmits): ${obs.detail}`);
      return;
    case 'client_error':
      m.diagnose('tftp_client_error', `TFTP ${obs.file}: the node sent an ERROR ${facts}`);
      return;
    case 'refused':
      m.diagnose('tftp_client_error', `TFTP ${obs.file} refused: ${obs.detail}`);
      return;
    case 'other':
      m.diagnose(obs.lastBlockAcked > 0 ? 'tftp_read_timeout' : 'tftp_open_timeout', `TFTP ${obs.file} ended ${facts}`);
      return;
  }
}

function onScript(m: Machine, obs: Obs<'http_script'>, hints: ObservationHints): void {
  if (!m.active() && !m.failed()) return;
  transferStarted(m);
  if (obs.status >= 400) {
    m.moveTo('script');
    m.diagnose('kernel_load_failed', `boot script${obs.profile ? ` (profile ${obs.profile})` : ''}: HTTP ${obs.status}`);
    return;
  }
  m.progressed('boot script served');
  m.moveTo('script');
  if (hints.scriptEndsBoot) {
    m.s.progress.finalDoneAt = obs.at;
    m.s.progress.finalPath = `the boot script (profile ${obs.profile})`;
  }
}

function onDownload(m: Machine, obs: Obs<'http_download'>): void {
  if (!m.active() && !m.failed()) return;
  transferStarted(m);
  const ok = obs.status < 400 && obs.complete;
  const beforeScript = stageIndex(m.s.stage) < stageIndex('script');
  if (!ok) {
    if (obs.role === 'other' && !beforeScript) return; // not part of the boot we track
    if (obs.role !== 'other') m.moveTo(obs.role);
    const what = obs.status >= 400 ? `HTTP ${obs.status}` : `${megabytes(obs.bytes)} then the connection closed after ${seconds(obs.ms)}`;
    m.diagnose('kernel_load_failed', `${obs.role === 'other' ? 'boot program' : obs.role} ${obs.path}: ${what}`);
    return;
  }
  m.progressed(`${obs.path} downloaded`);
  if (obs.role !== 'other') m.moveTo(obs.role);
  if (obs.final) {
    m.s.progress.finalDoneAt = obs.at;
    m.s.progress.finalPath = obs.path;
  }
}

// ---- the mutable working copy -------------------------------------------------

/** A copy of the state that one transition edits, collecting what changed. */
class Machine {
  readonly s: BootMachineState;
  readonly changes: StageChange[] = [];

  constructor(
    state: BootMachineState,
    readonly at: number,
  ) {
    const p = state.progress;
    this.s = {
      ...state,
      evidence: [...state.evidence],
      progress: {
        ...p,
        dhcp: { ...p.dhcp },
        ...(p.handoff && { handoff: { ...p.handoff } }),
        ...(p.tftp && { tftp: { ...p.tftp } }),
      },
    };
  }

  /** The unchanged input when nothing happened, so callers can compare by identity. */
  result(input: BootMachineState): Transition {
    return this.changes.length === 0 ? { state: input, changes: [] } : { state: this.s, changes: this.changes };
  }

  note(text: string): void {
    this.s.evidence.push({ at: this.at, text });
    if (this.s.evidence.length > EVIDENCE_ITEMS) this.s.evidence.splice(0, this.s.evidence.length - EVIDENCE_ITEMS);
  }

  /** A boot is running and has not stopped. */
  active(): boolean {
    return isBootInProgress(this.s);
  }

  /** The boot stopped with a failure (not booted). */
  failed(): boolean {
    return this.s.diagnosis !== undefined && this.s.diagnosis !== 'booted' && this.s.stage !== 'off';
  }

  newBoot(stage: BootStage): void {
    const s = this.s;
    const from = s.stage;
    s.boots++;
    s.stage = stage;
    s.stageSince = this.at;
    s.bootStartedAt = this.at;
    s.dhcpAcks = 0;
    delete s.diagnosis;
    delete s.diagnosisDetail;
    s.progress = { startObserved: true, dhcp: freshExchange() };
    this.changes.push({ kind: 'stage', at: this.at, from, to: stage, newBoot: true });
  }

  powerOff(): void {
    const s = this.s;
    if (s.stage === 'off') return;
    const from = s.stage;
    s.stage = 'off';
    s.stageSince = this.at;
    s.progress = { startObserved: false, dhcp: freshExchange() };
    this.changes.push({ kind: 'stage', at: this.at, from, to: 'off', newBoot: false });
  }

  /** Forward only: a later stage of this boot replaces an earlier one. */
  moveTo(stage: BootStage): void {
    const s = this.s;
    if (stageIndex(stage) <= stageIndex(s.stage)) return;
    const from = s.stage;
    s.stage = stage;
    s.stageSince = this.at;
    this.changes.push({ kind: 'stage', at: this.at, from, to: stage, newBoot: false });
  }

  diagnose(diagnosis: Diagnosis, detail: string): void {
    this.s.diagnosis = diagnosis;
    this.s.diagnosisDetail = detail;
    this.changes.push({ kind: 'diagnosis', at: this.at, diagnosis, detail, evidence: [...this.s.evidence] });
  }

  /** Progress in a boot that had a failure diagnosis: the node did not stop after all. */
  progressed(reason: string): void {
    const diagnosis = this.s.diagnosis;
    if (diagnosis === undefined || diagnosis === 'booted') return;
    delete this.s.diagnosis;
    delete this.s.diagnosisDetail;
    this.changes.push({ kind: 'diagnosis_cleared', at: this.at, diagnosis, reason });
  }

  bootedNow(source: 'callback' | 'last_download'): void {
    const s = this.s;
    if (s.stage === 'booted') {
      // The OS called back after the tracker had concluded 'booted' from the last download
      // (its DHCP was slow): the callback is the stronger evidence. Nothing is counted twice.
      if (source === 'callback' && s.progress.bootedBy === 'last_download') {
        s.progress.bootedBy = 'callback';
        s.diagnosisDetail = 'the OS called back';
        this.changes.push({ kind: 'diagnosis', at: this.at, diagnosis: 'booted', detail: s.diagnosisDetail, evidence: [...s.evidence], source });
      }
      return;
    }
    if (s.stage === 'off' || s.bootStartedAt === undefined) {
      // The boot began before rackboot saw it (e.g. rackboot restarted mid-boot): count it, but not its duration.
      s.boots++;
      s.bootStartedAt = this.at;
      s.progress.startObserved = false;
    }
    s.booted++;
    this.moveTo('booted');
    const p = s.progress;
    p.bootedBy = source;
    const detail =
      source === 'callback'
        ? 'the OS called back'
        : `${p.finalPath ?? 'the last file'} completed at ${p.finalDoneAt !== undefined ? clockTime(p.finalDoneAt) : '?'}, no OS callback`;
    s.diagnosis = 'booted';
    s.diagnosisDetail = detail;
    this.changes.push({
      kind: 'diagnosis',
      at: this.at,
      diagnosis: 'booted',
      detail,
      evidence: [...s.evidence],
      source,
      ...(p.startObserved && { durationMs: this.at - s.bootStartedAt }),
      ...(p.firmware !== undefined && { firmware: p.firmware }),
      dhcpAcks: s.dhcpAcks,
    });
  }
}

// ---- words for people ----------------------------------------------------------

/** One evidence line for an observation. */
export function describeObservation(obs: BootObservation): string {
  switch (obs.kind) {
    case 'power_on':
      return `power on (by ${obs.by})`;
    case 'power_off':
      return `power off (by ${obs.by})`;
    case 'dhcp_discover':
      return `DISCOVER xid 0x${obs.xid.toString(16)} (${obs.firmware}${obs.ipxe && obs.firmware !== 'ipxe' ? ', iPXE' : ''})`;
    case 'dhcp_offer':
      return `${obs.proxy ? 'proxy OFFER' : 'OFFER'}${obs.ip ? ` ${obs.ip}` : ''} ${obs.bootFile ? `boot file ${obs.bootFile}` : 'without boot file'}`;
    case 'dhcp_request':
      return `REQUEST${obs.ip ? ` ${obs.ip}` : ''}`;
    case 'dhcp_ack':
      return `${obs.proxy ? 'proxy ACK' : 'ACK'}${obs.ip ? ` ${obs.ip}` : ''} ${obs.bootFile ? `boot file ${obs.bootFile}` : 'without boot file'} (${obs.firmware})`;
    case 'dhcp_nak':
      return 'NAK';
    case 'arp_request':
      return `ARP who-has ${obs.target}`;
    case 'tftp_request': {
      const options = Object.entries(obs.options).map(([k, v]) => `${k}=${v}`);
      return `TFTP RRQ ${obs.file}${options.length ? ` (${options.join(' ')})` : ''}`;
    }
    case 'tftp_retransmit':
      return `TFTP ${obs.file} retransmit block ${obs.block} x${obs.count}`;
    case 'tftp_done':
      return `TFTP ${obs.file} done: ${megabytes(obs.bytes)} in ${seconds(obs.ms)}, ${obs.retransmits} retransmits`;
    case 'tftp_failed':
      return `TFTP ${obs.file} failed (${obs.reason}) after block ${obs.lastBlockAcked}, ${obs.retransmits} retransmits: ${obs.detail}`;
    case 'http_script':
      return `HTTP boot script${obs.profile ? ` (profile ${obs.profile})` : ''}: ${obs.status}`;
    case 'http_download':
      return `HTTP ${obs.path} (${obs.role}): ${obs.status}, ${megabytes(obs.bytes)}${obs.complete ? '' : ' INCOMPLETE'} in ${seconds(obs.ms)}`;
    case 'os_booted':
      return obs.source === 'callback' ? 'OS booted (callback)' : 'OS booted (concluded from the last download)';
  }
}

/** "12:00:03" (UTC): evidence lines sit beside log lines, which are UTC. */
export function clockTime(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function megabytes(bytes: number): string {
  return bytes >= 1_000_000 ? `${(bytes / 1_000_000).toFixed(1)} MB` : bytes >= 1000 ? `${(bytes / 1000).toFixed(1)} kB` : `${bytes} B`;
}
