// The kinds of value a configuration key can take: each spec reads one value
// from a YAML node, reports it (with what would be accepted) when it is wrong,
// and converts it to its normalised form. Which key takes which spec is under
// sections/.

import { isScalar } from 'yaml';
import { intToIp, ipToInt, isIpv4, isMac, normalizeMac, prefixToMask, type Ipv4, type Mac } from '../net/addr.js';
import { DURATION_EXPECTED, DurationError, formatMsDuration, parseDuration, parseMsDuration } from './duration.js';
import { didYouMean } from './errors.js';
import type { ValueSpec } from './yaml-reader.js';

// ---------------------------------------------------------------------------
// Text, numbers, durations

/**
 * True when `text` holds a control character (C0 or DEL). Such text would end up
 * in iPXE scripts and DHCP options, where a newline is an injection.
 */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** A single-line string without control characters, accepted by `test`, converted by `convert`. */
export function textSpec<T = string>(
  expected: string,
  test: (text: string) => boolean = () => true,
  convert: (text: string) => T = (text) => text as unknown as T,
): ValueSpec<T> {
  return {
    expected,
    read(r, node, keyPath) {
      const text = r.scalarText(node);
      if (text === undefined || hasControlCharacter(text) || !test(text)) return r.wrong(keyPath, node, expected);
      return convert(text);
    },
  };
}

export function enumSpec<const V extends string>(values: readonly V[]): ValueSpec<V> {
  const expected = `one of: ${values.join(', ')}`;
  return {
    expected,
    read(r, node, keyPath) {
      const text = r.scalarText(node);
      if (text !== undefined && (values as readonly string[]).includes(text)) return text as V;
      return r.wrong(keyPath, node, expected, text === undefined ? undefined : didYouMean(text, values));
    },
  };
}

export function integerSpec(min: number, max: number, expected: string): ValueSpec<number> {
  return numberSpec(min, max, expected, { whole: true });
}

/** A whole number of `what` (offers, transfers, nodes) from `min` to `max`. */
export function countSpec(min: number, max: number, what: string): ValueSpec<number> {
  return integerSpec(min, max, `a whole number of ${what} from ${min} to ${max}`);
}

/** A whole number of milliseconds, written as a plain number (press_ms: 300). */
export function millisecondsSpec(min: number, max: number): ValueSpec<number> {
  return integerSpec(min, max, `a whole number of milliseconds from ${min} to ${max}`);
}

export const portSpec = integerSpec(1, 65535, 'a port number from 1 to 65535');

/** A number from `min` to `max`; fractions allowed unless `whole`. */
export function numberSpec(min: number, max: number, expected: string, { whole = false } = {}): ValueSpec<number> {
  return {
    expected,
    read(r, node, keyPath) {
      const value = isScalar(node) ? node.value : undefined;
      const wrongKind = typeof value !== 'number' || !Number.isFinite(value) || (whole && !Number.isInteger(value));
      if (wrongKind || value < min || value > max) return r.wrong(keyPath, node, expected);
      return value;
    },
  };
}

/** TFTP pacing rates: fractions, so a slow or shared uplink (0.25 = 250 kbit/s) can be paced too. */
export const rateMbitSpec = numberSpec(0.05, 100_000, 'a rate in Mbit/s from 0.05 to 100000 (0.25 is 250 kbit/s)');

/** A positive duration in whole seconds, at most `max`. */
export function durationSpec(max = Number.MAX_SAFE_INTEGER): ValueSpec<number> {
  const expected = `a positive ${DURATION_EXPECTED.replace(/^a /, '')}`;
  return {
    expected,
    read(r, node, keyPath) {
      const raw = isScalar(node) ? node.value : undefined;
      if (typeof raw !== 'number' && typeof raw !== 'string') return r.wrong(keyPath, node, expected);
      let seconds: number;
      try {
        seconds = parseDuration(raw);
      } catch (error) {
        if (error instanceof DurationError) return r.wrong(keyPath, node, expected);
        throw error;
      }
      if (seconds <= 0) return r.wrong(keyPath, node, expected);
      if (seconds > max) return r.wrong(keyPath, node, `${expected}, at most ${max} seconds`);
      return seconds;
    },
  };
}

/** A DHCP lease time is a 32-bit count of seconds, and 0xffffffff means "infinite" (RFC 2132 9.2). */
export const MAX_LEASE_SECONDS = 0xfffffffe;
export const leaseTimeSpec = durationSpec(MAX_LEASE_SECONDS);

const MS_DURATION_EXPECTED = 'a duration: seconds as a number, or a string with units like 500ms, 2s, 1m30s';

/** A duration in milliseconds from `minMs` to `maxMs`, written with units (500ms, 2s) or as seconds. */
export function msDurationSpec(minMs: number, maxMs: number): ValueSpec<number> {
  const expected = `${MS_DURATION_EXPECTED}, from ${formatMsDuration(minMs)} to ${formatMsDuration(maxMs)}`;
  return {
    expected,
    read(r, node, keyPath) {
      const ms = parseMsDuration(isScalar(node) ? node.value : undefined);
      if (ms === undefined || ms < minMs || ms > maxMs) return r.wrong(keyPath, node, expected);
      return ms;
    },
  };
}

export const booleanSpec: ValueSpec<boolean> = {
  expected: 'true or false',
  read(r, node, keyPath) {
    const value = isScalar(node) ? node.value : undefined;
    if (typeof value === 'boolean') return value;
    return r.wrong(keyPath, node, 'true or false');
  },
};

// ---------------------------------------------------------------------------
// Addresses and names

const IPV4_EXPECTED = 'a unicast IPv4 address like 10.0.0.1';

/** A host's or server's address: 0.0.0.0, broadcast and multicast never make sense there. */
export const ipv4Spec: ValueSpec<Ipv4> = textSpec(IPV4_EXPECTED, (text) => isIpv4(text) && isUnicast(text));

function isUnicast(ip: Ipv4): boolean {
  const value = ipToInt(ip);
  return value !== 0 && value !== 0xffffffff && value >>> 28 !== 0xe;
}

export const macSpec: ValueSpec<Mac> = textSpec('a MAC address like 52:54:00:12:34:56', isMac, normalizeMac);

/** Linux's dev_valid_name(): at most IFNAMSIZ-1 bytes, no '/', ':' or whitespace, not "." or "..". */
export const interfaceSpec: ValueSpec<string> = textSpec(
  'a network interface name like eth0 (1 to 15 characters, no spaces, "/" or ":")',
  (text) => /^[^\s/:]{1,15}$/.test(text) && text !== '.' && text !== '..',
);

/** RFC 1123 2.1 host name label: letters, digits and hyphens, 1-63, no hyphen at either end. */
export function isHostnameLabel(text: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(text);
}

export const hostnameSpec: ValueSpec<string> = textSpec(
  'a host name of letters, digits and hyphens (1 to 63 characters, not starting or ending with a hyphen; the domain goes in options.domain)',
  isHostnameLabel,
);

export const domainSpec: ValueSpec<string> = textSpec(
  'a domain name like cluster.local (dot-separated labels of letters, digits and hyphens)',
  (text) => {
    const name = text.endsWith('.') ? text.slice(0, -1) : text;
    return name.length > 0 && name.length <= 253 && name.split('.').every(isHostnameLabel);
  },
  (text) => (text.endsWith('.') ? text.slice(0, -1) : text),
);

export const profileNameSpec: ValueSpec<string> = textSpec('a profile name of letters, digits, ".", "_" and "-" (at most 63 characters)', (text) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(text),
);

const SUBNET_EXPECTED = 'a subnet in network/prefix form like 10.0.0.0/24';

export const subnetSpec: ValueSpec<{ subnet: Ipv4; prefix: number }> = {
  expected: SUBNET_EXPECTED,
  read(r, node, keyPath) {
    const text = r.scalarText(node);
    const match = text === undefined ? null : /^\s*([\d.]+)\s*\/\s*(\d{1,2})\s*$/.exec(text);
    const prefix = match ? Number(match[2]) : NaN;
    if (!match || !isIpv4(match[1]) || prefix > 32) return r.wrong(keyPath, node, SUBNET_EXPECTED);
    const mask = prefixToMask(prefix);
    const network = intToIp((ipToInt(match[1]) & mask) >>> 0);
    if (network !== match[1]) {
      return r.wrong(keyPath, node, `a network address with the host bits zero, like ${network}/${prefix}`);
    }
    // /31 and /32 have no room for a DHCP client beside the network and broadcast addresses.
    if (prefix > 30) return r.wrong(keyPath, node, 'a subnet of prefix /30 or shorter (a pool needs addresses besides network and broadcast)');
    return { subnet: network, prefix };
  },
};

export function rangeSpec(subnetPath: string): ValueSpec<{ start: Ipv4; end: Ipv4 }> {
  const expected = `an IPv4 range like 10.0.0.100-10.0.0.199 inside ${subnetPath}`;
  return {
    expected,
    read(r, node, keyPath) {
      const text = r.scalarText(node);
      const match = text === undefined ? null : /^\s*([\d.]+)\s*-\s*([\d.]+)\s*$/.exec(text);
      if (!match || !isIpv4(match[1]) || !isIpv4(match[2])) return r.wrong(keyPath, node, expected);
      return { start: match[1], end: match[2] };
    },
  };
}

export const channelNameSpec: ValueSpec<string> = textSpec('a channel name of letters, digits, ".", "_" and "-" (at most 63 characters)', (text) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(text),
);

// ---------------------------------------------------------------------------
// Paths, URLs, command lines, devices

/** Kernel and initrd paths are served from boot.root, so they must stay inside it. */
export const bootPathSpec: ValueSpec<string> = textSpec(
  'a path relative to boot.root like vmlinuz or images/vmlinuz (no leading "/", no ".." segment, not a URL; use kind: chain for URLs)',
  (text) => text.trim() !== '' && !text.startsWith('/') && !text.includes('\\') && !text.includes('://') && !text.split('/').includes('..'),
);

export const chainUrlSpec: ValueSpec<string> = textSpec('an absolute http://, https:// or tftp:// URL like http://10.0.0.1/boot.ipxe', (text) => {
  try {
    const url = new URL(text);
    return ['http:', 'https:', 'tftp:'].includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
});

/** Any single line (cmdline may be empty). */
export const lineSpec: ValueSpec<string> = textSpec('a single line of text');
export const labelSpec: ValueSpec<string> = textSpec('a non-empty single line of text', (text) => text.trim() !== '');
/** One argument of a command's argv (no shell, so any single line that is not empty). */
export const argumentSpec: ValueSpec<string> = textSpec<string>('a single-line argument', (text) => text.length > 0);
export const logPathSpec: ValueSpec<string> = textSpec(
  'an absolute file path like /var/log/rackboot/vm1.log',
  (text) => text.startsWith('/') && !text.endsWith('/'),
);

/** The serial speeds a UART or USB adapter is realistically set to. */
export const BAUD_RATES = [9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600] as const;
export const baudSpec: ValueSpec<number> = {
  expected: `a serial speed: one of ${BAUD_RATES.join(', ')}`,
  read(r, node, keyPath) {
    const value = isScalar(node) ? node.value : undefined;
    if (typeof value === 'number' && (BAUD_RATES as readonly number[]).includes(value)) return value;
    r.wrong(keyPath, node, this.expected);
    return undefined;
  },
};
export const devicePathSpec: ValueSpec<string> = textSpec(
  'an absolute device path like /dev/ttyAMA0 or /dev/ttyUSB0',
  (text) => text.startsWith('/') && text.length > 1,
);
export const directorySpec: ValueSpec<string> = textSpec('a directory path like /srv/rackboot', (text) => text.trim() !== '');

/** BCM numbers on every Raspberry Pi stay below 64 (the RP1 on a Pi 5 has 54 user GPIOs). */
export const MAX_BCM_PIN = 63;
export const pinSpec: ValueSpec<number> = integerSpec(0, MAX_BCM_PIN, `a BCM GPIO number from 0 to ${MAX_BCM_PIN} (GPIO17 is 17, not header pin 11)`);
