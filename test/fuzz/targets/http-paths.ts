// Fuzz target: the HTTP request-path and header parsers of boot-file serving: Range
// (against a reference model), If-Range/entity tags/HTTP dates, and path confinement.
// Input: NUL-separated fields: Range header, raw path, entity-tag list, HTTP date; the
// representation size comes from the first 4 bytes of the Range field's hash-free prefix.
// Invariants: nothing throws; a partial range lies inside the representation and agrees
// with a plain reading of RFC 9110 14.1.1; an accepted path has no '.', '..', empty,
// slash-, backslash-, NUL- or control-character segment, so joined under /srv/boot it
// stays under /srv/boot/ (never /srv/boot-evil).

import { posix } from 'node:path';
import { decideRange, parseEntityTagList, parseHttpDate, formatHttpDate, ifRangeAllowsRange } from '../../../firmware/src/http/range.js';
import { confinePath } from '../../../firmware/src/http/boot-files.js';
import { check, fields } from './_support.js';

export const maxLen = 1024;
export const dictionary = ['bytes=', '-', ',', '%2e', '%2f', '%5c', '%00', '..', '/', 'W/"', '"', 'GMT', 'Sun, 06 Nov 1994 08:49:37 GMT'];
const ROOT = '/srv/boot';

export function fuzz(data: Buffer): void {
  const size = data.length >= 4 ? data.readUInt32BE(0) % 10_000_000 : 0;
  const [range, path, tags, date] = fields(data.subarray(Math.min(4, data.length)), 4);
  checkRange(range, size);
  checkRange(range, 0);
  checkPath(path);
  parseEntityTagList(tags);
  const seconds = parseHttpDate(date);
  if (seconds !== undefined) {
    check(Number.isFinite(seconds), `HTTP date ${JSON.stringify(date)} parsed to ${seconds}`);
    if (seconds >= 0 && seconds < 253402300800) parseHttpDate(formatHttpDate(seconds));
  }
  ifRangeAllowsRange(tags, { etag: '"abc"', lastModified: 784111777 }, 784111800);
}

function checkRange(header: string, size: number): void {
  const decision = decideRange(header, size);
  const model = referenceRange(header, size);
  check(
    JSON.stringify(decision.kind === 'full' ? { kind: 'full' } : decision) === JSON.stringify(model),
    `Range ${JSON.stringify(header)} on ${size} bytes: ${JSON.stringify(decision)}, model says ${JSON.stringify(model)}`,
  );
  if (decision.kind === 'partial')
    check(decision.start >= 0 && decision.start <= decision.end && decision.end < size, `range ${decision.start}-${decision.end} outside ${size} bytes`);
}

/** RFC 9110 14.1/14.2 read plainly, with rackboot's policy of ignoring multiple ranges. Exported for the property tests. */
export function referenceRange(header: string, size: number): { kind: 'full' } | { kind: 'unsatisfiable' } | { kind: 'partial'; start: number; end: number } {
  const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=(.*)$/s.exec(header);
  if (!m || m[1].toLowerCase() !== 'bytes') return { kind: 'full' };
  const specs = m[2]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (specs.length !== 1) return { kind: 'full' };
  const big = (digits: string): number => (BigInt(digits) > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(digits));
  const suffix = /^-(\d+)$/.exec(specs[0]);
  if (suffix) {
    const length = big(suffix[1]);
    if (length === 0) return { kind: 'unsatisfiable' };
    if (size === 0) return { kind: 'full' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const int = /^(\d+)-(\d*)$/.exec(specs[0]);
  if (!int) return { kind: 'full' };
  if (int[2] !== '' && BigInt(int[2]) < BigInt(int[1])) return { kind: 'full' };
  const first = big(int[1]);
  if (first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start: first, end: int[2] === '' ? size - 1 : Math.min(big(int[2]), size - 1) };
}

function checkPath(raw: string): void {
  const confined = confinePath(raw);
  if (!confined.ok) return;
  for (const segment of confined.segments) {
    check(segment !== '' && segment !== '.' && segment !== '..', `path ${JSON.stringify(raw)} kept segment ${JSON.stringify(segment)}`);
    check(!/[/\\\u0000-\u001f\u007f]/.test(segment), `path ${JSON.stringify(raw)} kept a separator or control character in ${JSON.stringify(segment)}`);
  }
  const joined = posix.join(ROOT, ...confined.segments);
  check(joined === ROOT || joined.startsWith(`${ROOT}/`), `path ${JSON.stringify(raw)} joins to ${joined}, outside ${ROOT}/`);
}
