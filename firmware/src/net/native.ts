// Loads rackboot's AF_PACKET addon (firmware/native/packet.c) and types its API.
// Loading is lazy: code that only uses fakes (unit tests) never needs the build.

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One classic BPF instruction, as in struct sock_filter. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export interface NativeInterfaceInfo {
  name: string;
  index: number;
  /** Lower-case, colon separated. All zero for interfaces without a hardware address. */
  mac: string;
  mtu: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier present (IFF_RUNNING). */
  running: boolean;
  /** Every IPv4 address on the interface, primary first. */
  ipv4: Array<{ address: string; prefix: number }>;
}

export interface NativePacketHandle {
  /** Sends one complete Ethernet frame. Throws (with errno `code`) on failure or after close(). */
  send(frame: Uint8Array): void;
  /** Stops receiving and closes the socket; idempotent. */
  close(): void;
}

/** Errors thrown by the addon carry the errno name, e.g. 'EPERM', 'ENODEV'. */
export type NativeError = Error & { code?: string };

export interface PacketAddon {
  /**
   * Opens an AF_PACKET socket on `ifname`. One ethertype binds to it; several bind
   * ETH_P_ALL and rely on `bpf` (or, when bpf is null, a generated ethertype filter).
   * Frames this host sends are never delivered. `onFrame` gets a fresh Buffer per frame
   * and whether its transport checksum is still pending (PACKET_AUXDATA
   * TP_STATUS_CSUMNOTREADY: sent by a local veth/tap peer with checksum offload).
   */
  open(
    ifname: string,
    ethertypes: readonly number[],
    bpf: readonly BpfInstruction[] | null,
    onFrame: (frame: Buffer, checksumPending: boolean) => void,
    onError: (err: NativeError) => void,
  ): NativePacketHandle;
  interfaceInfo(ifname: string): NativeInterfaceInfo;
  /** Installs or replaces a REACHABLE IPv4 neighbour (ARP) entry. Needs CAP_NET_ADMIN. */
  setNeighbor(ifname: string, ip: string, mac: string): void;
  /** Sends one sd_notify(3) datagram to `socketPath` ($NOTIFY_SOCKET; '@' starts an abstract name). */
  notifySystemd(socketPath: string, message: string): void;
}

export const ADDON_FILE = 'rackboot_packet.node';

/**
 * Where the addon may be, in order: beside this module (the esbuild bundle in
 * build/out/ ships it there), then the node-gyp output relative to this source file.
 */
export function addonCandidates(moduleUrl: string = import.meta.url): string[] {
  const here = dirname(fileURLToPath(moduleUrl));
  return [join(here, ADDON_FILE), join(here, '..', '..', 'native', 'build', 'Release', ADDON_FILE)];
}

let loaded: PacketAddon | undefined;

export function loadPacketAddon(): PacketAddon {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  for (const candidate of addonCandidates()) {
    try {
      loaded = require(candidate) as PacketAddon;
      return loaded;
    } catch (err) {
      failures.push(`  ${candidate}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `cannot load the packet socket addon ${ADDON_FILE}; tried:\n${failures.join('\n')}\n` +
      'Run `make build` to compile it (node-gyp rebuild in firmware/native).',
  );
}
