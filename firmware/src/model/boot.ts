// The vocabulary of a boot: which kind of client is asking, how far a node's
// boot got, why it stopped, and what the servers saw on the way. The DHCP,
// TFTP and HTTP servers, the boot tracker, the API, the console, the power
// sequencer and the web UI all code against these types.

import type { Ipv4, Mac } from '../net/addr.js';

/** Who is asking: PXE firmware by architecture, UEFI HTTP Boot, iPXE, a Raspberry Pi's boot ROM, or a plain DHCP client (an OS). */
export type ClientKind = 'bios-pxe' | 'uefi-x64-pxe' | 'uefi-ia32-pxe' | 'uefi-arm64-pxe' | 'uefi-x64-http' | 'uefi-arm64-http' | 'ipxe' | 'rpi-boot' | 'plain';

/** What a TFTP file is to a boot beyond the boot program (see tftp_request). */
export type TftpRole = 'kernel' | 'initrd' | 'script';

/** A DHCP client as classified from its request (dhcp/client-class.ts). */
export interface ClientClass {
  kind: ClientKind;
  /** RFC 4578 option 93 value, when the client sent one. */
  arch?: number;
  /** The client's option 60 as sent ("PXEClient:Arch:00000:UNDI:002001"). */
  vendorClass?: string;
  /** True when iPXE is the one asking (option 175 or user class "iPXE"). */
  isIpxe: boolean;
  /** For iPXE: the platform it runs on, to pick the right script/binary later. */
  ipxeArch?: number;
}

/**
 * How far a node's current boot got, in order. `off` is the resting state (no
 * boot seen yet, or powered off); `booted` is reached from the OS callback or,
 * failing that, the end of the last download of the boot profile.
 */
export const BOOT_STAGES = [
  'off',
  'power_on', //      power-on requested (sequencer, API, console)
  'dhcp_discover', // firmware DISCOVER seen
  'offered', //       rackboot sent an OFFER (or proxy offer)
  'acknowledged', //  rackboot sent an ACK with the boot file
  'nbp_tftp', //      the network boot program (iPXE) is being read over TFTP
  'ipxe_dhcp', //     iPXE (chainloaded or native) asked for its own address
  'script', //        iPXE fetched its boot script
  'kernel', //        kernel download under way
  'initrd', //        initrd download(s) under way
  'booted',
] as const;
export type BootStage = (typeof BOOT_STAGES)[number];

/**
 * Why a boot stopped, in the words field engineers already use (the PXE error
 * in brackets is what the node's screen shows). `booted` is the good outcome.
 */
export const DIAGNOSES = [
  'no_offer', //            PXE-E51: DISCOVERs keep coming after rackboot offered (offers lost)
  'no_boot_filename', //    PXE-E53: the node got an answer without a boot file (held, unknown arch)
  'arp_timeout', //         PXE-E11: acknowledged, then only ARP requests from the node, no TFTP
  'tftp_open_timeout', //   PXE-E32: acknowledged, no TFTP transfer got past its first block
  'tftp_read_timeout', //   PXE-E35/E3B: a transfer started, then the node stopped acknowledging
  'tftp_client_error', //   PXE-E3C/E36: the node sent a TFTP ERROR (not the tsize probe's abort)
  'kernel_load_failed', //  iPXE "Could not boot image": a kernel/initrd download failed or ended early
  'secure_boot_refused', // UEFI "Access Denied": the boot program was read whole by TFTP, then the node asked DHCP again, nothing else
  'took_too_long', //       progressing, but past the boot time limit without finishing
  'booted',
] as const;
export type Diagnosis = (typeof DIAGNOSES)[number];

/** The boot state of one node, as the tracker keeps it. */
export interface NodeBootState {
  mac: Mac;
  stage: BootStage;
  /** Set when the boot stopped (a failure) or finished (`booted`); cleared when a new boot begins. */
  diagnosis?: Diagnosis;
  /** Words for the operator: "4 DISCOVERs after our OFFER at 12:00:03", "kernel: 3.1 of 30 MB, connection closed". */
  diagnosisDetail?: string;
  /** When this boot began (first observation of the boot), and when the stage last changed. */
  bootStartedAt?: number;
  stageSince: number;
  /** Last observation of any kind for this node. */
  lastSeenAt?: number;
  /** The firmware class of the latest DHCP exchange. */
  firmware?: ClientKind;
  /**
   * The client class of the node's boot firmware in its latest network boot: the
   * firmware's own, not that of an iPXE it chainloaded (a native iPXE ROM is 'ipxe').
   */
  platform?: ClientKind;
  /** The platform for operators, from the same request's option 93 and class: "x64 UEFI", "arm64 UEFI HTTP", "x86 BIOS". */
  arch?: string;
  /** The address the node was last seen with. */
  ip?: Ipv4;
  /** How many boots this node has started since rackboot started, and how many reached `booted`. */
  boots: number;
  booted: number;
  /** DHCP transactions (ACKs) in the current boot: 1 for a native iPXE ROM, 2 for PXE + chainloaded iPXE. */
  dhcpAcks: number;
  /** The most recent observations, newest last, kept as evidence for a diagnosis (bounded). */
  evidence: EvidenceItem[];
}

/** Option 93 values (RFC 4578, IANA Processor Architecture Types) as operators say them. */
const ARCH_NAMES: Record<number, string> = {
  0: 'x86 BIOS',
  6: 'ia32 UEFI',
  7: 'x64 UEFI',
  9: 'x64 UEFI',
  10: 'arm32 UEFI',
  11: 'arm64 UEFI',
  15: 'ia32 UEFI HTTP',
  16: 'x64 UEFI HTTP',
  18: 'arm32 UEFI HTTP',
  19: 'arm64 UEFI HTTP',
};

const KIND_ARCH: Record<Exclude<ClientKind, 'ipxe' | 'plain'>, string> = {
  'bios-pxe': 'x86 BIOS',
  'uefi-ia32-pxe': 'ia32 UEFI',
  'uefi-x64-pxe': 'x64 UEFI',
  'uefi-arm64-pxe': 'arm64 UEFI',
  'uefi-x64-http': 'x64 UEFI HTTP',
  'uefi-arm64-http': 'arm64 UEFI HTTP',
  'rpi-boot': 'Raspberry Pi',
};

/**
 * A boot client's platform for operators: from its class where that names one, else
 * from its option 93 (iPXE says only what it runs on), else undefined (a plain
 * client, or an iPXE that sent no option 93 or an unlisted one).
 */
export function platformName(kind: ClientKind, arch?: number): string | undefined {
  if (kind !== 'ipxe' && kind !== 'plain') return KIND_ARCH[kind];
  if (kind === 'ipxe' && arch !== undefined) return ARCH_NAMES[arch] ?? `arch ${arch}`;
  return undefined;
}

export interface EvidenceItem {
  at: number;
  /** One line: "DISCOVER xid 0x1a2b (bios-pxe)", "TFTP RRQ undionly.kpxe", "retransmit block 17 x3". */
  text: string;
}

/**
 * What a server saw, attributed to a node by MAC (the wiring resolves IP ->
 * MAC before handing it over; unattributable observations are counted and
 * dropped). `at` is the server's clock.
 */
export type BootObservation =
  | { kind: 'power_on'; mac: Mac; at: number; by: string }
  | { kind: 'power_off'; mac: Mac; at: number; by: string }
  /** arch: the request's option 93 (RFC 4578), when it carried one. */
  | { kind: 'dhcp_discover'; mac: Mac; at: number; firmware: ClientKind; ipxe: boolean; xid: number; arch?: number }
  /** bootFile undefined: the answer carried no boot file (a hold, an arch rackboot cannot boot, a plain client). */
  | { kind: 'dhcp_offer'; mac: Mac; at: number; ip?: Ipv4; bootFile?: string; proxy: boolean }
  | { kind: 'dhcp_request'; mac: Mac; at: number; ip?: Ipv4 }
  | { kind: 'dhcp_ack'; mac: Mac; at: number; ip?: Ipv4; bootFile?: string; firmware: ClientKind; ipxe: boolean; proxy: boolean; arch?: number }
  | { kind: 'dhcp_nak'; mac: Mac; at: number }
  /** The node asked (ARP request) who has `target`; rackboot's kernel answers for the server address. */
  | { kind: 'arp_request'; mac: Mac; at: number; target: Ipv4 }
  /**
   * role: what the file is to the node's boot, when it is more than a boot program: its
   * profile's kernel or an initrd, or its boot configuration (GRUB's, generated per node).
   * final: the profile's last file (as for http_download).
   */
  | { kind: 'tftp_request'; mac: Mac; at: number; file: string; options: Record<string, string>; role?: TftpRole }
  | { kind: 'tftp_retransmit'; mac: Mac; at: number; file: string; block: number; count: number }
  | { kind: 'tftp_done'; mac: Mac; at: number; file: string; bytes: number; ms: number; retransmits: number; role?: TftpRole; final?: boolean }
  /**
   * reason: 'timeout' (retries exhausted), 'client_error' (the node sent ERROR),
   * 'aborted_probe' (the tsize probe's abort, normal for PXE ROMs), 'refused'
   * (not found, access violation...), 'other'.
   */
  | {
      kind: 'tftp_failed';
      mac: Mac;
      at: number;
      file: string;
      reason: 'timeout' | 'client_error' | 'aborted_probe' | 'refused' | 'other';
      detail: string;
      lastBlockAcked: number;
      retransmits: number;
    }
  | { kind: 'http_script'; mac: Mac; at: number; profile: string; status: number }
  /**
   * role comes from the node's profile: the kernel, one of its initrds, or something else.
   * final: this is the profile's last file (its last initrd, or the kernel when it has none).
   */
  | {
      kind: 'http_download';
      mac: Mac;
      at: number;
      path: string;
      role: 'kernel' | 'initrd' | 'other';
      final: boolean;
      status: number;
      bytes: number;
      complete: boolean;
      ms: number;
      /** The URL carried the node's current boot token (only the node itself was given it). */
      withToken?: boolean;
    }
  /** The OS called back (GET /api/v1/booted?mac=...&token=..., token checked), or the tracker concluded it from the last download. */
  | { kind: 'os_booted'; mac: Mac; at: number; source: 'callback' | 'last_download' };

export type BootObservationKind = BootObservation['kind'];
