// What each kind of firmware does on the wire and how long it waits, in one
// table. The storm's virtual nodes read nothing else, so a timing question is
// answered here.
//
// Sources (read, not copied):
// - PXE 2.1 specification, 2.2.1: DHCPDISCOVER broadcast with timeouts of 4, 8,
//   16 and 32 s, then PXE-E51 ("No DHCP or proxyDHCP offers were received");
//   2.2.4: the request to a proxyDHCP/boot server on port 4011 with timeouts of
//   1, 2, 3 and 4 s (PXE-E55 when unanswered). EDK2's UEFI PXE
//   (NetworkPkg/UefiPxeBcDxe) and HTTP Boot use the same DHCP table
//   ({4, 8, 16, 32}) and MTFTP with a 4 s timeout and 6 retries
//   (PXEBC_MTFTP_TIMEOUT / PXEBC_MTFTP_RETRIES), tsize probe first.
// - iPXE src/config/dhcp.h + src/net/retry.c: each DHCP state has a min/max
//   timeout; the timer starts at min (0 means iPXE's 0.25 s floor), doubles on
//   every expiry and the state fails once the doubled value exceeds max.
//   discovery 1..10 s (sends at 0, 1, 3, 7 s, fails at 15 s), request 0..10 s,
//   ProxyDHCP wait after a plain offer 2 s. iPXE marks itself with option 175
//   and user class "iPXE". Its TCP uses the same retry timer (0.25 s..10 s).
import type { ClientKind } from '../model/boot.js';

/** The firmware a virtual node plays. */
export const FIRMWARE_KINDS = ['bios-pxe', 'uefi-pxe', 'ipxe', 'uefi-http'] as const;
export type FirmwareKind = (typeof FIRMWARE_KINDS)[number];

/** Seconds to wait after each transmission, in order; after the last, give up. */
export type TimeoutSchedule = readonly number[];

/** iPXE's retry timer (src/net/retry.c): start at max(min, 0.25 s), double per expiry, fail once above max. */
export function ipxeSchedule(minSeconds: number, maxSeconds: number): number[] {
  const out: number[] = [];
  let timeout = Math.max(minSeconds, 0.25);
  for (;;) {
    out.push(timeout);
    timeout *= 2;
    if (timeout > maxSeconds) return out;
  }
}

export interface DhcpBehaviour {
  /** Option 60 the firmware sends. */
  vendorClass: string;
  /** Option 93 (RFC 4578). */
  arch: number;
  /** Option 94: UNDI type 1, version major.minor. */
  ndi: [number, number, number];
  /** iPXE adds option 175 and user class "iPXE". */
  ipxe: boolean;
  discover: TimeoutSchedule;
  request: TimeoutSchedule;
  /**
   * How long to wait for a proxy offer (s). PXE ROMs wait only when the address offer has no boot
   * information; iPXE waits unless an offer carried "PXEClient", and checks only when its timer expires.
   */
  proxyWait: number;
  /** Port 4011 request schedule (PXE boot server / proxyDHCP), when a proxy offer asks for it. */
  proxyRequest: TimeoutSchedule;
}

export interface TftpBehaviour {
  /** RRQ asking tsize first, abort the OACK with ERROR 8, then the real RRQ (PXE ROMs and EDK2 do). */
  tsizeProbe: boolean;
  /** Options of the probe RRQ besides tsize (EDK2 repeats blksize and windowsize there; Intel ROMs send tsize alone). */
  probeOptions: ReadonlyArray<'blksize' | 'windowsize'>;
  /** The real RRQ asks tsize again (neither EDK2 nor Intel ROMs do). */
  tsizeInTransfer: boolean;
  blksize: number;
  /** RFC 7440 windowsize asked for; 1 = lock-step (not sent). */
  windowsize: number;
  /** Seconds between retransmissions of the RRQ / last ACK, and how many sends in all. */
  timeout: number;
  tries: number;
}

export interface FirmwareProfile {
  kind: FirmwareKind;
  /** How rackboot's classifier should see this firmware's first DISCOVER. */
  expectedClass: ClientKind;
  dhcp: DhcpBehaviour;
  /** How the network boot program is fetched: TFTP (PXE ROMs), HTTP (UEFI HTTP Boot) or none (native iPXE). */
  nbp: 'tftp' | 'http' | 'none';
  tftp: TftpBehaviour;
}

const PXE_DHCP = {
  discover: [4, 8, 16, 32],
  request: [4, 8, 16, 32],
  proxyWait: 4,
  proxyRequest: [1, 2, 3, 4],
} as const;

/** iPXE's DHCP (after a chainload, or as the NIC's own ROM). */
export const IPXE_DHCP: DhcpBehaviour = {
  vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
  arch: 0,
  ndi: [1, 2, 1],
  ipxe: true,
  discover: ipxeSchedule(1, 10),
  request: ipxeSchedule(0, 10),
  proxyWait: 2,
  proxyRequest: ipxeSchedule(0, 10),
};

/** iPXE's TCP gives up on a connection after its retry timer passes 10 s: 0.25+0.5+...+8 s of silence. */
export const IPXE_TCP_IDLE_SECONDS = ipxeSchedule(0, 10).reduce((a, b) => a + b, 0);

export const FIRMWARE_PROFILES: Record<FirmwareKind, FirmwareProfile> = {
  'bios-pxe': {
    kind: 'bios-pxe',
    expectedClass: 'bios-pxe',
    dhcp: { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', arch: 0, ndi: [1, 2, 1], ipxe: false, ...PXE_DHCP },
    nbp: 'tftp',
    tftp: { tsizeProbe: true, probeOptions: [], tsizeInTransfer: false, blksize: 1456, windowsize: 1, timeout: 4, tries: 6 },
  },
  'uefi-pxe': {
    kind: 'uefi-pxe',
    expectedClass: 'uefi-x64-pxe',
    dhcp: { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', arch: 7, ndi: [1, 3, 0], ipxe: false, ...PXE_DHCP },
    nbp: 'tftp',
    // EDK2 asks for windowsize 4 since 2020 (PcdPxeTftpWindowSize); OVMF's probe carries blksize and
    // windowsize too, its real RRQ no tsize (seen on the wire, test/integration/storm-fidelity.test.ts).
    tftp: { tsizeProbe: true, probeOptions: ['blksize', 'windowsize'], tsizeInTransfer: false, blksize: 1468, windowsize: 4, timeout: 4, tries: 6 },
  },
  'uefi-http': {
    kind: 'uefi-http',
    expectedClass: 'uefi-x64-http',
    dhcp: { vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', arch: 16, ndi: [1, 3, 0], ipxe: false, ...PXE_DHCP },
    nbp: 'http',
    tftp: { tsizeProbe: false, probeOptions: [], tsizeInTransfer: false, blksize: 1468, windowsize: 1, timeout: 4, tries: 6 },
  },
  ipxe: {
    kind: 'ipxe',
    expectedClass: 'ipxe',
    dhcp: IPXE_DHCP,
    nbp: 'none',
    tftp: { tsizeProbe: false, probeOptions: [], tsizeInTransfer: true, blksize: 1432, windowsize: 1, timeout: 1, tries: 6 },
  },
};

/** A boot still unfinished after this long is `took_too_long` (operators' patience, not firmware's). */
export const DEFAULT_BOOT_LIMIT_SECONDS = 600;
