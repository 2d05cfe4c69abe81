// Typed readers and builders over DhcpOptions (RFC 2132, RFC 3004, RFC 3046,
// RFC 4578, the PXE 2.1 specification and iPXE's option 175).
//
// Readers return undefined when the option is absent and throw DecodeError
// (layer "dhcp-option", offset within the option's value) when it is present
// but malformed, so a caller can tell "not sent" from "sent wrong".
// Builders return the option's value (without code and length); the codec
// writes the code, length and any RFC 3396 splitting.

import { ipFromBytes, ipToBytes, type Ipv4 } from '../net/addr.js';
import { DecodeError } from '../net/decode-error.js';
import { Opt, type DhcpOptions, type MessageType } from './message.js';

const LAYER = 'dhcp-option';

function fail(code: number, offset: number, reason: string): never {
  throw new DecodeError(LAYER, offset, `option ${code}: ${reason}`);
}

function fixedLength(options: DhcpOptions, code: number, length: number): Buffer | undefined {
  const raw = options.get(code);
  if (raw === undefined) return undefined;
  if (raw.length !== length) fail(code, 0, `length ${raw.length}, expected ${length}`);
  return raw;
}

// ---- builders ----------------------------------------------------------------

export function ipOption(ip: Ipv4): Buffer {
  return ipToBytes(ip);
}

export function ipListOption(ips: readonly Ipv4[]): Buffer {
  return Buffer.concat(ips.map((ip) => ipToBytes(ip)));
}

export function u8Option(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`not an unsigned 8-bit value: ${value}`);
  return Buffer.from([value]);
}

export function u16Option(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`not an unsigned 16-bit value: ${value}`);
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

export function u32Option(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`not an unsigned 32-bit value: ${value}`);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

/**
 * UTF-8 text, no NUL terminator (RFC 2132 2: "options containing NVT ASCII
 * data SHOULD NOT include a trailing NULL"). ASCII is the same in UTF-8.
 */
export function stringOption(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

export function messageTypeOption(type: MessageType): Buffer {
  return u8Option(type);
}

export interface EncapsulatedOptionSettings {
  /**
   * Append an End (255) sub-option. RFC 2132 8.4 makes it optional; the PXE
   * specification's option 43 layout ends with it and some ROMs look for it.
   */
  terminate?: boolean;
}

/**
 * Encapsulated sub-options (RFC 2132 8.4 for 43, RFC 3046 for 82, iPXE's 175):
 * code/length/value triples in the given order. A value over 255 bytes is split
 * into consecutive instances (RFC 3396 applied inside the option).
 */
export function encapsulatedOption(
  subOptions: ReadonlyMap<number, Buffer> | Iterable<readonly [number, Buffer]>,
  settings: EncapsulatedOptionSettings = {},
): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of subOptions) {
    if (!Number.isInteger(code) || code < 1 || code > 254) throw new RangeError(`sub-option code ${code} cannot be encoded`);
    let offset = 0;
    do {
      const chunk = value.subarray(offset, offset + 255);
      parts.push(Buffer.from([code, chunk.length]), chunk);
      offset += 255;
    } while (offset < value.length);
  }
  if (settings.terminate) parts.push(Buffer.from([Opt.End]));
  return Buffer.concat(parts);
}

/**
 * Reads encapsulated sub-options: Pad (0) skipped, End (255) stops, repeated
 * codes concatenated, a length past the end is malformed. `code` names the
 * enclosing option in errors.
 */
export function decodeEncapsulated(value: Buffer, code: number): Map<number, Buffer> {
  const parts = new Map<number, Buffer[]>();
  let i = 0;
  while (i < value.length) {
    const sub = value[i];
    if (sub === 0) {
      i++;
      continue;
    }
    if (sub === 255) break;
    if (i + 1 >= value.length) fail(code, i, `sub-option ${sub} has no length byte`);
    const length = value[i + 1];
    if (i + 2 + length > value.length) fail(code, i + 1, `sub-option ${sub} length ${length} runs past the end`);
    const data = value.subarray(i + 2, i + 2 + length);
    const list = parts.get(sub);
    if (list) list.push(data);
    else parts.set(sub, [data]);
    i += 2 + length;
  }
  const out = new Map<number, Buffer>();
  for (const [sub, list] of parts) out.set(sub, Buffer.concat(list));
  return out;
}

// ---- readers -----------------------------------------------------------------

/** 53 (RFC 2132 9.6): exactly one byte. */
export function messageType(options: DhcpOptions): MessageType | undefined {
  const raw = fixedLength(options, Opt.MessageType, 1);
  return raw ? raw[0] : undefined;
}

/** 50 (RFC 2132 9.1). */
export function requestedIp(options: DhcpOptions): Ipv4 | undefined {
  const raw = fixedLength(options, Opt.RequestedIp, 4);
  return raw ? ipFromBytes(raw) : undefined;
}

/** 54 (RFC 2132 9.7). */
export function serverId(options: DhcpOptions): Ipv4 | undefined {
  const raw = fixedLength(options, Opt.ServerId, 4);
  return raw ? ipFromBytes(raw) : undefined;
}

/** 51 (RFC 2132 9.2), seconds; 0xffffffff means infinite. */
export function leaseTime(options: DhcpOptions): number | undefined {
  const raw = fixedLength(options, Opt.LeaseTime, 4);
  return raw ? raw.readUInt32BE(0) : undefined;
}

/** 55 (RFC 2132 9.8): the codes the client asks for, in its order of preference. */
export function parameterRequestList(options: DhcpOptions): number[] | undefined {
  const raw = options.get(Opt.ParameterRequestList);
  return raw ? [...raw] : undefined;
}

/**
 * 57 (RFC 2132 9.10): the largest DHCP message (as an IP datagram) the client
 * accepts, as sent. Values below the legal minimum of 576 are returned as they
 * are; encodeDhcp raises them to 576.
 */
export function maxMessageSize(options: DhcpOptions): number | undefined {
  const raw = fixedLength(options, Opt.MaxMessageSize, 2);
  return raw ? raw.readUInt16BE(0) : undefined;
}

/** 61 (RFC 2132 9.14): opaque; usually a hardware type byte followed by the MAC. At least 1 byte. */
export function clientId(options: DhcpOptions): Buffer | undefined {
  const raw = options.get(Opt.ClientId);
  if (raw === undefined) return undefined;
  if (raw.length === 0) fail(Opt.ClientId, 0, 'empty client identifier');
  return raw;
}

/** 60 (RFC 2132 9.13), e.g. "PXEClient:Arch:00000:UNDI:002001". Read as latin1: one char per byte. */
export function vendorClass(options: DhcpOptions): string | undefined {
  return options.get(Opt.VendorClass)?.toString('latin1');
}

/** 12 (RFC 2132 3.14). Trailing NULs (sent by some clients) are dropped. */
export function hostname(options: DhcpOptions): string | undefined {
  return options.get(Opt.HostName)?.toString('latin1').replace(/\0+$/, '');
}

/**
 * 77 user class. RFC 3004 makes it a list of length-prefixed strings; iPXE and
 * several older clients send one bare string ("iPXE"). Rule: when the value
 * parses exactly as an RFC 3004 list (every item 1+ bytes, lengths adding up
 * to the option length) it is that list; otherwise the whole value is one
 * string. (A bare string can only be mistaken for a list if its first byte
 * is its own remaining length, which printable text like "iPXE" never is.)
 */
export function userClass(options: DhcpOptions): string[] | undefined {
  const raw = options.get(Opt.UserClass);
  if (raw === undefined) return undefined;
  if (raw.length === 0) fail(Opt.UserClass, 0, 'empty user class');
  const items: string[] = [];
  let i = 0;
  while (i < raw.length) {
    const length = raw[i];
    if (length === 0 || i + 1 + length > raw.length) return [raw.toString('latin1')];
    items.push(raw.subarray(i + 1, i + 1 + length).toString('latin1'));
    i += 1 + length;
  }
  return items;
}

/** 93 (RFC 4578 2.1): the client's architecture types, 16 bits each, most preferred first. */
export function clientArch(options: DhcpOptions): number[] | undefined {
  const raw = options.get(Opt.ClientArch);
  if (raw === undefined) return undefined;
  if (raw.length === 0 || raw.length % 2 !== 0) fail(Opt.ClientArch, 0, `length ${raw.length} is not a positive multiple of 2`);
  const arches: number[] = [];
  for (let i = 0; i < raw.length; i += 2) arches.push(raw.readUInt16BE(i));
  return arches;
}

export interface ClientNdi {
  /** 1 = UNDI. */
  type: number;
  major: number;
  minor: number;
}

/** 94 (RFC 4578 2.2): network interface type and UNDI version, e.g. {1, 2, 1} for UNDI 2.1. */
export function clientNdi(options: DhcpOptions): ClientNdi | undefined {
  const raw = fixedLength(options, Opt.ClientNdi, 3);
  return raw ? { type: raw[0], major: raw[1], minor: raw[2] } : undefined;
}

/**
 * 97 (RFC 4578 2.3): type 0 followed by a 16-byte GUID, returned as a
 * lower-case UUID string. The PXE spec gives no byte order; RFC 4578 points at
 * the EFI GUID layout (first three fields little-endian), which is what iPXE
 * sends (src/net/udp/dhcp.c, uuid_mangle) and what dmidecode prints for SMBIOS
 * 2.6+, so that is how the bytes are read: the string matches the machine's
 * SMBIOS UUID. Some older ROMs send the raw bytes big-endian; their string
 * comes out with the first three groups byte-swapped, consistently.
 */
export function clientUuid(options: DhcpOptions): string | undefined {
  const raw = fixedLength(options, Opt.ClientUuid, 17);
  if (!raw) return undefined;
  if (raw[0] !== 0) fail(Opt.ClientUuid, 0, `identifier type ${raw[0]} is not 0 (GUID)`);
  return guidToString(raw.subarray(1));
}

/** Formats 16 bytes in EFI GUID layout (first three fields little-endian). */
export function guidToString(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`a GUID is 16 bytes, not ${bytes.length}`);
  const hex = (from: number, to: number, reverse: boolean): string => {
    const part = [...bytes.subarray(from, to)];
    if (reverse) part.reverse();
    return part.map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

/** Inverse of guidToString: a UUID string to the 16 bytes a client puts on the wire. */
export function guidFromString(uuid: string): Buffer {
  const match = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(uuid);
  if (!match) throw new RangeError(`not a UUID: ${JSON.stringify(uuid)}`);
  const le = (hex: string): Buffer => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([le(match[1]), le(match[2]), le(match[3]), Buffer.from(match[4] + match[5], 'hex')]);
}

/** 97 as a client sends it: type 0 + GUID bytes (see clientUuid for the byte order). */
export function clientUuidOption(uuid: string): Buffer {
  return Buffer.concat([Buffer.from([0]), guidFromString(uuid)]);
}

/** 43 (RFC 2132 8.4) as sent. */
export function vendorSpecific(options: DhcpOptions): Buffer | undefined {
  return options.get(Opt.VendorSpecific);
}

/** 43 read as encapsulated sub-options (the PXE layout, among others). */
export function vendorSpecificSubOptions(options: DhcpOptions): Map<number, Buffer> | undefined {
  const raw = options.get(Opt.VendorSpecific);
  return raw ? decodeEncapsulated(raw, Opt.VendorSpecific) : undefined;
}

/** RFC 3046 2.0 sub-option codes. */
export const RelayAgentSubOpt = {
  CircuitId: 1,
  RemoteId: 2,
} as const;

export interface RelayAgentInfo {
  circuitId?: Buffer;
  remoteId?: Buffer;
  /** Every sub-option, in order, including the two above. */
  subOptions: Map<number, Buffer>;
}

/** 82 (RFC 3046): the relay agent's sub-options. The server echoes the raw option unchanged (RFC 3046 2.2). */
export function relayAgentInfo(options: DhcpOptions): RelayAgentInfo | undefined {
  const raw = options.get(Opt.RelayAgentInfo);
  if (raw === undefined) return undefined;
  const subOptions = decodeEncapsulated(raw, Opt.RelayAgentInfo);
  const info: RelayAgentInfo = { subOptions };
  const circuitId = subOptions.get(RelayAgentSubOpt.CircuitId);
  const remoteId = subOptions.get(RelayAgentSubOpt.RemoteId);
  if (circuitId) info.circuitId = circuitId;
  if (remoteId) info.remoteId = remoteId;
  return info;
}

/** Sub-options of iPXE's option 175 (src/include/ipxe/dhcp.h, src/include/ipxe/features.h). */
export const IpxeSubOpt = {
  Priority: 0x01,
  KeepSan: 0x08,
  SkipSanBoot: 0x09,
  Syslogs: 0x55,
  NoPxeDhcp: 0xb0,
  BusId: 0xb1,
  SanRetry: 0xbb,
  Username: 0xbe,
  Password: 0xbf,
  Version: 0xeb,
  // Feature flags: present (value = feature version) when the build includes it.
  FeaturePxeExt: 0x10,
  FeatureIscsi: 0x11,
  FeatureAoe: 0x12,
  FeatureHttp: 0x13,
  FeatureHttps: 0x14,
  FeatureTftp: 0x15,
  FeatureFtp: 0x16,
  FeatureDns: 0x17,
  FeatureBzImage: 0x18,
  FeatureMultiboot: 0x19,
  FeatureSlam: 0x1a,
  FeatureSrp: 0x1b,
  FeatureNbi: 0x20,
  FeaturePxe: 0x21,
  FeatureElf: 0x22,
  FeatureComboot: 0x23,
  FeatureEfi: 0x24,
  FeatureFcoe: 0x25,
  FeatureVlan: 0x26,
  FeatureMenu: 0x27,
  FeatureSdi: 0x28,
  FeatureNfs: 0x29,
} as const;

/** 175: iPXE's encapsulated options (feature flags, bus id, version). */
export function ipxe(options: DhcpOptions): Map<number, Buffer> | undefined {
  const raw = options.get(Opt.Ipxe);
  return raw ? decodeEncapsulated(raw, Opt.Ipxe) : undefined;
}

// ---- PXE vendor options in 43 (PXE 2.1 specification, "PXE vendor options") ------

export const PxeSubOpt = {
  DiscoveryControl: 6,
  MulticastAddress: 7,
  BootServers: 8,
  BootMenu: 9,
  MenuPrompt: 10,
  BootItem: 71,
} as const;

/** PXE_DISCOVERY_CONTROL bits. */
export const PxeDiscovery = {
  NoBroadcast: 1,
  NoMulticast: 2,
  /** Only use/accept servers in PXE_BOOT_SERVERS. */
  OnlyListedServers: 4,
  /** A boot file name is in this packet: download it, no prompt, menu or discovery. */
  UseBootFile: 8,
} as const;

export interface PxeBootServer {
  type: number;
  ips: Ipv4[];
}

export interface PxeMenuItem {
  type: number;
  description: string;
}

export interface PxeVendorOptions {
  discoveryControl?: number;
  multicastAddress?: Ipv4;
  bootServers?: PxeBootServer[];
  bootMenu?: PxeMenuItem[];
  /** Seconds to wait for F8 (0 = boot the first item now, 255 = show the menu at once). */
  menuPrompt?: { timeout: number; prompt: string };
  /** The boot server type and layer a ROM asks for, and the server echoes (port 4011). */
  bootItem?: { type: number; layer: number };
  /** Sub-options not listed above, as sent. */
  other?: Map<number, Buffer>;
}

/** 43 read with the PXE layout. Returns undefined when 43 is absent. */
export function pxeOptions(options: DhcpOptions): PxeVendorOptions | undefined {
  const subs = vendorSpecificSubOptions(options);
  if (!subs) return undefined;
  const code = Opt.VendorSpecific;
  const result: PxeVendorOptions = {};
  for (const [sub, value] of subs) {
    switch (sub) {
      case PxeSubOpt.DiscoveryControl:
        if (value.length !== 1) fail(code, 0, `PXE discovery control of ${value.length} bytes`);
        result.discoveryControl = value[0]!;
        break;
      case PxeSubOpt.MulticastAddress:
        if (value.length !== 4) fail(code, 0, `PXE multicast address of ${value.length} bytes`);
        result.multicastAddress = ipFromBytes(value);
        break;
      case PxeSubOpt.BootServers: {
        const servers: PxeBootServer[] = [];
        let i = 0;
        while (i < value.length) {
          if (i + 3 > value.length) fail(code, i, 'PXE boot server entry truncated');
          const type = value.readUInt16BE(i);
          const count = value[i + 2];
          if (i + 3 + count * 4 > value.length) fail(code, i + 2, `PXE boot server entry claims ${count} addresses past the end`);
          const ips: Ipv4[] = [];
          for (let k = 0; k < count; k++) ips.push(ipFromBytes(value, i + 3 + k * 4));
          servers.push({ type, ips });
          i += 3 + count * 4;
        }
        result.bootServers = servers;
        break;
      }
      case PxeSubOpt.BootMenu: {
        const items: PxeMenuItem[] = [];
        let i = 0;
        while (i < value.length) {
          if (i + 3 > value.length) fail(code, i, 'PXE boot menu entry truncated');
          const type = value.readUInt16BE(i);
          const length = value[i + 2];
          if (i + 3 + length > value.length) fail(code, i + 2, `PXE boot menu description of ${length} bytes runs past the end`);
          items.push({ type, description: value.subarray(i + 3, i + 3 + length).toString('latin1') });
          i += 3 + length;
        }
        result.bootMenu = items;
        break;
      }
      case PxeSubOpt.MenuPrompt:
        if (value.length < 1) fail(code, 0, 'empty PXE menu prompt');
        result.menuPrompt = { timeout: value[0], prompt: value.subarray(1).toString('latin1') };
        break;
      case PxeSubOpt.BootItem:
        if (value.length !== 4) fail(code, 0, `PXE boot item of ${value.length} bytes`);
        result.bootItem = { type: value.readUInt16BE(0), layer: value.readUInt16BE(2) };
        break;
      default:
        (result.other ??= new Map()).set(sub, value);
    }
  }
  return result;
}

/** Builds option 43 in the PXE layout, sub-options in the PXE spec's order, ended by End (255). */
export function pxeVendorOption(spec: PxeVendorOptions): Buffer {
  const subs = new Map<number, Buffer>();
  if (spec.discoveryControl !== undefined) subs.set(PxeSubOpt.DiscoveryControl, u8Option(spec.discoveryControl));
  if (spec.multicastAddress !== undefined) subs.set(PxeSubOpt.MulticastAddress, ipToBytes(spec.multicastAddress));
  if (spec.bootServers) {
    subs.set(
      PxeSubOpt.BootServers,
      Buffer.concat(
        spec.bootServers.map((server) => {
          if (server.ips.length > 255) throw new RangeError('a PXE boot server entry holds at most 255 addresses');
          return Buffer.concat([u16Option(server.type), u8Option(server.ips.length), ipListOption(server.ips)]);
        }),
      ),
    );
  }
  if (spec.bootMenu) {
    subs.set(
      PxeSubOpt.BootMenu,
      Buffer.concat(
        spec.bootMenu.map((item) => {
          const text = Buffer.from(item.description, 'latin1');
          if (text.length > 255) throw new RangeError('a PXE menu description holds at most 255 bytes');
          return Buffer.concat([u16Option(item.type), u8Option(text.length), text]);
        }),
      ),
    );
  }
  if (spec.menuPrompt) {
    subs.set(PxeSubOpt.MenuPrompt, Buffer.concat([u8Option(spec.menuPrompt.timeout), Buffer.from(spec.menuPrompt.prompt, 'latin1')]));
  }
  if (spec.bootItem) subs.set(PxeSubOpt.BootItem, Buffer.concat([u16Option(spec.bootItem.type), u16Option(spec.bootItem.layer)]));
  if (spec.other) for (const [sub, value] of spec.other) if (!subs.has(sub)) subs.set(sub, value);
  for (const value of subs.values()) if (value.length > 255) throw new RangeError('a PXE sub-option holds at most 255 bytes');
  return encapsulatedOption(subs, { terminate: true });
}

export interface PxeBootFromFile {
  /** The client's option 97, echoed as the PXE spec asks (raw bytes, as received). */
  clientUuid?: Buffer;
  /** For a port 4011 BootServerDHCPACK: the boot item the ROM asked for, echoed. */
  bootItem?: { type: number; layer: number };
}

/**
 * The PXE-specific part of a "boot this file" reply: 60 "PXEClient" (ROMs
 * ignore offers without it), 43 with discovery control UseBootFile (download
 * the boot file named in this packet, no boot server discovery or menu), and
 * 97 echoed when given. The caller adds 53/54, sets `file` (and option 67),
 * and `siaddr`/66 for TFTP.
 */
export function pxeBootFromFileOptions(settings: PxeBootFromFile = {}): DhcpOptions {
  const options: DhcpOptions = new Map();
  options.set(Opt.VendorClass, stringOption('PXEClient'));
  const spec: PxeVendorOptions = { discoveryControl: PxeDiscovery.UseBootFile };
  if (settings.bootItem) spec.bootItem = settings.bootItem;
  options.set(Opt.VendorSpecific, pxeVendorOption(spec));
  if (settings.clientUuid) options.set(Opt.ClientUuid, settings.clientUuid);
  return options;
}

// ---- ordering --------------------------------------------------------------------

/**
 * Orders reply options for the wire. The rule:
 *   1. 53 (message type) first: several PXE ROMs only look for it there.
 *   2. 54 (server identifier) next.
 *   3. Then the options the client asked for, in its parameter request list's
 *      order (RFC 2132 9.8: the list is in the client's order of preference;
 *      clients with small buffers read the head of the list).
 *   4. Then every other option, in the insertion order of `options`.
 *   5. 82 (relay agent information) last, wherever the list put it: relay
 *      agents append it (RFC 3046 2.1) and strip it from replies, and some
 *      expect to find it at the end.
 * Returns a new Map with the same entries; codes in the list that are not in
 * `options` and repeated list entries are ignored.
 */
export function orderByParameterRequestList(options: DhcpOptions, prl: readonly number[]): DhcpOptions {
  const ordered: DhcpOptions = new Map();
  const take = (code: number): void => {
    if (code === Opt.RelayAgentInfo || ordered.has(code)) return;
    const value = options.get(code);
    if (value !== undefined) ordered.set(code, value);
  };
  take(Opt.MessageType);
  take(Opt.ServerId);
  for (const code of prl) take(code);
  for (const code of options.keys()) take(code);
  const relay = options.get(Opt.RelayAgentInfo);
  if (relay !== undefined) ordered.set(Opt.RelayAgentInfo, relay);
  return ordered;
}
