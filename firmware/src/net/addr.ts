// IPv4 and MAC address helpers shared by every codec and server.
// Addresses travel as dotted-quad strings in messages (readable in logs and tests)
// and as unsigned 32-bit numbers where arithmetic is needed (pools, subnets).

export type Ipv4 = string;
export type Mac = string; // lower-case, colon separated: "52:54:00:12:34:56"

const IPV4_PATTERN = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_PATTERN = /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i;

export function isIpv4(text: string): boolean {
  return IPV4_PATTERN.test(text);
}

/**
 * Parsed by hand, accepting exactly what IPV4_PATTERN accepts (four decimal parts
 * 0-255, no leading zeros): the DHCP server converts addresses on every request,
 * and the regex plus split showed up at 10 % of a perfdhcp profile.
 */
export function ipToInt(ip: Ipv4): number {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || ++dots > 3) return notIpv4(ip);
      value = value * 256 + part;
      part = 0;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39 || (digits > 0 && part === 0)) return notIpv4(ip);
    part = part * 10 + (c - 0x30);
    if (++digits > 3 || part > 255) return notIpv4(ip);
  }
  if (dots !== 3 || digits === 0) return notIpv4(ip);
  return (value * 256 + part) >>> 0;
}

function notIpv4(ip: unknown): never {
  throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
}

export function intToIp(value: number): Ipv4 {
  const v = value >>> 0;
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

export function ipFromBytes(buf: Uint8Array, offset = 0): Ipv4 {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export function ipToBytes(ip: Ipv4): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(ipToInt(ip));
  return out;
}

export function isMac(text: string): boolean {
  return MAC_PATTERN.test(text);
}

/** Normalises "52-54-00-AB-CD-EF" or "52:54:00:ab:cd:ef" to "52:54:00:ab:cd:ef". */
export function normalizeMac(text: string): Mac {
  if (!isMac(text)) throw new RangeError(`not a MAC address: ${JSON.stringify(text)}`);
  return text.toLowerCase().replace(/-/g, ':');
}

export function macFromBytes(buf: Uint8Array, offset = 0, length = 6): Mac {
  const parts: string[] = [];
  for (let i = 0; i < length; i++) parts.push(buf[offset + i].toString(16).padStart(2, '0'));
  return parts.join(':');
}

export function macToBytes(mac: Mac): Buffer {
  return Buffer.from(
    normalizeMac(mac)
      .split(':')
      .map((h) => parseInt(h, 16)),
  );
}

export const BROADCAST_MAC: Mac = 'ff:ff:ff:ff:ff:ff';
export const ZERO_IP: Ipv4 = '0.0.0.0';
export const BROADCAST_IP: Ipv4 = '255.255.255.255';

/** Netmask from a prefix length: 24 -> 0xffffff00. */
export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function maskToPrefix(mask: Ipv4): number {
  const m = ipToInt(mask);
  let prefix = 0;
  while (prefix < 32 && (m & (0x80000000 >>> prefix)) !== 0) prefix++;
  if (prefixToMask(prefix) !== m) throw new RangeError(`not a contiguous netmask: ${mask}`);
  return prefix;
}

export function sameSubnet(a: Ipv4, b: Ipv4, prefix: number): boolean {
  const mask = prefixToMask(prefix);
  return (ipToInt(a) & mask) >>> 0 === (ipToInt(b) & mask) >>> 0;
}
