// TFTP option negotiation (RFC 2347) for blksize (RFC 2348), timeout and tsize
// (RFC 2349) and windowsize (RFC 7440).
//
// RFC 2347 lets a server leave out of its OACK any option it does not accept;
// the client then uses that option's default. So a value we cannot use
// (blksize 0 or 70000, windowsize "abc", a timeout of 300 s) drops that option
// instead of failing the request: a PXE ROM with one odd option still boots,
// with defaults for that option. Unknown options (multicast, rollover, utimeout
// ...) are dropped the same way. Rollover needs no option: rackboot always
// rolls block numbers over to 0, as tftp-hpa, atftp and curl expect.
//
// Numbers are plain decimal digits (no sign, no spaces, no hex), at most 10 of
// them. The OACK lists accepted options in the client's order with the values
// rackboot will use.

export const DEFAULT_BLKSIZE = 512;
/** RFC 2348 section 2. */
export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
/** RFC 2349 section 2 (seconds). */
export const TIMEOUT_MIN = 1;
export const TIMEOUT_MAX = 255;
/** RFC 7440 section 2. */
export const WINDOWSIZE_MIN = 1;
export const WINDOWSIZE_MAX = 65535;

export interface NegotiationLimits {
  /** Largest block that fits one frame: MTU - 20 (IPv4) - 8 (UDP) - 4 (TFTP), e.g. 1468 on a 1500 MTU. */
  maxBlksize: number;
  maxWindow: number;
  /** The size of the file as it will be sent (after netascii conversion); tsize is answered only when known. */
  fileSize?: number;
  /** RRQ (default): tsize 0 asks for the size. WRQ: tsize is the upload's size and is echoed. */
  op?: 'rrq' | 'wrq';
}

export interface TransferParams {
  blksize: number;
  windowsize: number;
  /** The client's timeout option, when accepted. */
  timeoutMs?: number;
  tsize?: number;
}

export interface IgnoredOption {
  name: string;
  value: string;
  reason: string;
}

export interface Negotiation {
  /** The OACK content, in the client's order. Empty: send no OACK (RFC 2347: DATA 1 with defaults). */
  accepted: Map<string, string>;
  params: TransferParams;
  /** Options left out of the OACK and why: for logs and counters. */
  ignored: IgnoredOption[];
}

export function negotiate(requested: Map<string, string>, limits: NegotiationLimits): Negotiation {
  const accepted = new Map<string, string>();
  const ignored: IgnoredOption[] = [];
  const params: TransferParams = { blksize: DEFAULT_BLKSIZE, windowsize: 1 };
  const maxBlksize = Math.min(BLKSIZE_MAX, Math.max(BLKSIZE_MIN, Math.floor(limits.maxBlksize)));
  const maxWindow = Math.min(WINDOWSIZE_MAX, Math.max(WINDOWSIZE_MIN, Math.floor(limits.maxWindow)));

  for (const [rawName, value] of requested) {
    const name = rawName.toLowerCase();
    const ignore = (reason: string): void => {
      ignored.push({ name, value, reason });
    };
    if (accepted.has(name)) {
      ignore('repeated option');
      continue;
    }
    const n = parseDecimal(value);
    switch (name) {
      case 'blksize': {
        // RFC 2348: the server may answer with a smaller size than asked, never a larger one.
        if (n === undefined || n < BLKSIZE_MIN || n > BLKSIZE_MAX) {
          ignore(`blksize must be ${BLKSIZE_MIN}-${BLKSIZE_MAX}`);
          break;
        }
        params.blksize = Math.min(n, maxBlksize);
        accepted.set(name, String(params.blksize));
        break;
      }
      case 'timeout': {
        // RFC 2349 section 2: not negotiable; accept as sent or leave out.
        if (n === undefined || n < TIMEOUT_MIN || n > TIMEOUT_MAX) {
          ignore(`timeout must be ${TIMEOUT_MIN}-${TIMEOUT_MAX} seconds`);
          break;
        }
        params.timeoutMs = n * 1000;
        accepted.set(name, String(n));
        break;
      }
      case 'tsize': {
        // RFC 2349 section 4: a reader sends 0 and gets the size; a writer announces its size.
        if (n === undefined) {
          ignore('tsize must be a whole number');
          break;
        }
        const size = (limits.op ?? 'rrq') === 'rrq' ? limits.fileSize : n;
        if (size === undefined) {
          ignore('file size unknown');
          break;
        }
        params.tsize = size;
        accepted.set(name, String(size));
        break;
      }
      case 'windowsize': {
        // RFC 7440 section 3: the server may answer with a smaller window.
        if (n === undefined || n < WINDOWSIZE_MIN || n > WINDOWSIZE_MAX) {
          ignore(`windowsize must be ${WINDOWSIZE_MIN}-${WINDOWSIZE_MAX}`);
          break;
        }
        params.windowsize = Math.min(n, maxWindow);
        accepted.set(name, String(params.windowsize));
        break;
      }
      default:
        ignore('unknown option');
    }
  }
  return { accepted, params, ignored };
}

function parseDecimal(text: string): number | undefined {
  return /^[0-9]{1,10}$/.test(text) ? Number(text) : undefined;
}
