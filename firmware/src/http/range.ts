// Byte ranges and conditional requests for boot files (RFC 9110 sections 13
// and 14). Pure functions over header values, a representation's size and its
// validators; boot-files.ts does the I/O. Nothing here throws on hostile input:
// a header we cannot read is ignored, which is what the RFC asks of a server
// for Range (14.2) and for the date-based conditionals (13.1.3, 13.1.4).

// ---------------------------------------------------------------------------
// Range (RFC 9110 14.1, 14.2)

export type RangeDecision =
  /** Serve the whole representation with 200. `reason` says why any Range header was not used. */
  | { kind: 'full'; reason: 'absent' | 'malformed' | 'other-unit' | 'multiple' | 'empty-representation' }
  /** Serve bytes start..end (both inclusive) with 206. */
  | { kind: 'partial'; start: number; end: number }
  /** Answer 416 with `Content-Range: bytes *\/size`. */
  | { kind: 'unsatisfiable' };

/** 14.1.1: range-spec is int-range (first-last, last optional) or suffix-range (-length), digits only. */
const INT_RANGE = /^(\d+)-(\d*)$/;
const SUFFIX_RANGE = /^-(\d+)$/;

/**
 * Decides what a `Range` header asks of a representation of `size` bytes.
 *
 * - Only the `bytes` unit is understood (case-insensitive, 14.1); any other unit
 *   is ignored (14.2: a server MAY ignore Range).
 * - Malformed headers (bad syntax, last-pos < first-pos) are ignored: 200 with
 *   the whole file (14.2).
 * - More than one range is also answered with the whole file. Multipart
 *   byteranges responses (14.6) buy a boot client nothing — iPXE, curl and
 *   UEFI HTTP Boot ask for one range at a time — and are the classic
 *   amplification vector (many overlapping ranges of one large file). 14.2 lets
 *   a server ignore Range, so this is conforming. Empty list elements
 *   (`bytes=0-99,`) do not count (RFC 9110 5.6.1.2).
 * - A single range that selects nothing (first-pos >= size, or suffix length 0)
 *   is unsatisfiable: 416 (15.5.17).
 * - A zero-length file has no byte to select: an int-range is unsatisfiable,
 *   a suffix-range (satisfiable by 14.1.1, but with nothing to put in a
 *   206's Content-Range) gets the whole, empty file.
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full', reason: 'absent' };
  const equals = header.indexOf('=');
  if (equals < 0) return { kind: 'full', reason: 'malformed' };
  const unit = header.slice(0, equals).trim();
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(unit)) return { kind: 'full', reason: 'malformed' };
  if (unit.toLowerCase() !== 'bytes') return { kind: 'full', reason: 'other-unit' };
  const specs = header
    .slice(equals + 1)
    .split(',')
    .map((spec) => spec.trim())
    .filter((spec) => spec !== '');
  if (specs.length === 0) return { kind: 'full', reason: 'malformed' };
  if (!specs.every((spec) => INT_RANGE.test(spec) || SUFFIX_RANGE.test(spec))) return { kind: 'full', reason: 'malformed' };
  for (const spec of specs) {
    const int = INT_RANGE.exec(spec);
    if (int && int[2] !== '' && compareDigits(int[2], int[1]) < 0) return { kind: 'full', reason: 'malformed' };
  }
  if (specs.length > 1) return { kind: 'full', reason: 'multiple' };

  const spec = specs[0];
  const suffix = SUFFIX_RANGE.exec(spec);
  if (suffix) {
    const length = digitsToNumber(suffix[1]);
    if (length === 0) return { kind: 'unsatisfiable' };
    if (size === 0) return { kind: 'full', reason: 'empty-representation' };
    // 14.1.1: a suffix longer than the representation selects all of it.
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const int = INT_RANGE.exec(spec)!;
  const first = digitsToNumber(int[1]);
  if (first >= size) return { kind: 'unsatisfiable' };
  // 14.1.1: a last-pos at or past the end means "to the end".
  const last = int[2] === '' ? size - 1 : Math.min(digitsToNumber(int[2]), size - 1);
  return { kind: 'partial', start: first, end: last };
}

/** `Content-Range` of a 206 (14.4). */
export function contentRange(start: number, end: number, size: number): string {
  return `bytes ${start}-${end}/${size}`;
}

/** `Content-Range` of a 416: the current length, so the client can ask again (14.4, 15.5.17). */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}

/** Digit strings can be longer than any safe integer; past 2^53 the exact value no longer matters for a file. */
function digitsToNumber(digits: string): number {
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  return trimmed.length > 16 ? Number.MAX_SAFE_INTEGER : Number(trimmed);
}

/** Compares two non-negative decimal digit strings exactly. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Validators: entity tags and dates (RFC 9110 8.8, 5.6.7)

export interface Validators {
  /** The current entity tag, quoted, e.g. `"1a2b-3c-4d"` (strong) or `W/"..."`. */
  etag: string;
  /** Last-Modified in whole seconds since the epoch (HTTP-dates have no finer resolution). */
  lastModified: number;
}

export interface EntityTag {
  weak: boolean;
  /** The opaque-tag including its quotes. */
  opaque: string;
}

/** One entity tag (8.8.3): `"xyz"` or `W/"xyz"`; undefined if malformed. */
export function parseEntityTag(text: string): EntityTag | undefined {
  const match = /^(W\/)?("[\x21\x23-\x7e\x80-\xff]*")$/.exec(text.trim());
  return match ? { weak: match[1] !== undefined, opaque: match[2] } : undefined;
}

/**
 * An If-Match / If-None-Match value (13.1.1, 13.1.2): `*`, or a list of entity
 * tags. Undefined if any member is malformed, in which case callers treat the
 * header as absent rather than guess.
 */
export function parseEntityTagList(text: string): { any: true } | { any: false; tags: EntityTag[] } | undefined {
  const trimmed = text.trim();
  if (trimmed === '*') return { any: true };
  const tags: EntityTag[] = [];
  // Opaque tags may not contain '"' but may contain ','; split on the commas between tags.
  const pattern = /\s*(W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)/y;
  let offset = 0;
  while (offset < trimmed.length) {
    // Empty list elements and the whitespace around them are allowed (5.6.1.2).
    if (trimmed[offset] === ',' || trimmed[offset] === ' ' || trimmed[offset] === '\t') {
      offset++;
      continue;
    }
    pattern.lastIndex = offset;
    const match = pattern.exec(trimmed);
    if (!match) return undefined;
    tags.push({ weak: match[1] !== undefined, opaque: match[2] });
    offset = pattern.lastIndex;
  }
  return tags.length > 0 ? { any: false, tags } : undefined;
}

/** 8.8.3.2: strong comparison — both strong and the same opaque tag. */
export function strongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** 8.8.3.2: weak comparison — the same opaque tag, either may be weak. */
export function weakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC850_DATE = /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;

/**
 * An HTTP-date (5.6.7) in whole seconds since the epoch, or undefined. All three
 * formats a recipient must accept: IMF-fixdate, RFC 850 and asctime (the last
 * two are always GMT — Date.parse would read asctime as local time).
 */
export function parseHttpDate(text: string): number | undefined {
  const value = text.trim();
  let year: number, month: string, day: number, hour: number, minute: number, second: number;
  let m: RegExpExecArray | null;
  if ((m = IMF_FIXDATE.exec(value))) {
    [day, month, year, hour, minute, second] = [Number(m[1]), m[2], Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  } else if ((m = RFC850_DATE.exec(value))) {
    // 5.6.7: a two-digit year more than 50 years in the future is in the past century.
    const yy = Number(m[3]);
    const thisYear = new Date().getUTCFullYear();
    year = 2000 + yy > thisYear + 50 ? 1900 + yy : 2000 + yy;
    [day, month, hour, minute, second] = [Number(m[1]), m[2], Number(m[4]), Number(m[5]), Number(m[6])];
  } else if ((m = ASCTIME_DATE.exec(value))) {
    [month, day, hour, minute, second, year] = [m[1], Number(m[2].trim()), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  } else {
    return undefined;
  }
  const monthIndex = MONTHS.indexOf(month);
  if (monthIndex < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.UTC(year, monthIndex, day, hour, minute, Math.min(second, 59));
  // Date.UTC rolls 31 Feb into March; a date that does not exist is not a valid HTTP-date.
  if (new Date(ms).getUTCDate() !== day) return undefined;
  return Math.floor(ms / 1000);
}

/** IMF-fixdate for a time in seconds since the epoch (5.6.7). */
export function formatHttpDate(seconds: number): string {
  return new Date(seconds * 1000).toUTCString();
}

// ---------------------------------------------------------------------------
// Preconditions (RFC 9110 13.1, evaluated in the order of 13.2.2)

export interface ConditionalHeaders {
  ifMatch?: string;
  ifNoneMatch?: string;
  ifModifiedSince?: string;
  ifUnmodifiedSince?: string;
}

export type PreconditionOutcome = 'proceed' | 'not-modified' | 'precondition-failed';

/**
 * Evaluates the preconditions of a GET or HEAD on an existing representation
 * (13.2.2 steps 1-4; If-Range, step 5, is `ifRangeAllowsRange`):
 * 1. If-Match (strong comparison) false -> 412.
 * 2. Without If-Match, If-Unmodified-Since before Last-Modified -> 412.
 * 3. If-None-Match (weak comparison) matching -> 304 for GET/HEAD.
 * 4. Without If-None-Match, If-Modified-Since at or after Last-Modified -> 304.
 * Malformed values are ignored (the header is treated as absent).
 */
export function evaluatePreconditions(method: string, headers: ConditionalHeaders, current: Validators): PreconditionOutcome {
  const ours = parseEntityTag(current.etag);
  if (headers.ifMatch !== undefined) {
    const list = parseEntityTagList(headers.ifMatch);
    if (list && !list.any && !(ours && list.tags.some((tag) => strongMatch(tag, ours)))) return 'precondition-failed';
  } else if (headers.ifUnmodifiedSince !== undefined) {
    const since = parseHttpDate(headers.ifUnmodifiedSince);
    if (since !== undefined && current.lastModified > since) return 'precondition-failed';
  }
  const safe = method === 'GET' || method === 'HEAD';
  if (headers.ifNoneMatch !== undefined) {
    const list = parseEntityTagList(headers.ifNoneMatch);
    if (list) {
      const matches = list.any || (ours !== undefined && list.tags.some((tag) => weakMatch(tag, ours)));
      if (matches) return safe ? 'not-modified' : 'precondition-failed';
      return 'proceed';
    }
  }
  if (safe && headers.ifModifiedSince !== undefined && headers.ifNoneMatch === undefined) {
    const since = parseHttpDate(headers.ifModifiedSince);
    if (since !== undefined && current.lastModified <= since) return 'not-modified';
  }
  return 'proceed';
}

/**
 * If-Range (13.1.5): whether a Range header may be honoured. Absent If-Range
 * allows it. An entity tag must match our current tag by strong comparison (a
 * weak tag never does). A date must equal Last-Modified exactly and
 * Last-Modified must be a strong validator, which for a file means it was set
 * at least one second before now (8.8.2.2): a file written within the same
 * second could change again without its date changing. Anything else —
 * including a malformed value — means "send the whole representation".
 */
export function ifRangeAllowsRange(ifRange: string | undefined, current: Validators, nowSeconds: number): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    const theirs = parseEntityTag(value);
    const ours = parseEntityTag(current.etag);
    return theirs !== undefined && ours !== undefined && strongMatch(theirs, ours);
  }
  const date = parseHttpDate(value);
  return date !== undefined && date === current.lastModified && current.lastModified <= nowSeconds - 1;
}
