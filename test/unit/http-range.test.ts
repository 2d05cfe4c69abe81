import { describe, expect, it } from 'vitest';
import {
  contentRange,
  decideRange,
  evaluatePreconditions,
  formatHttpDate,
  ifRangeAllowsRange,
  parseEntityTag,
  parseEntityTagList,
  parseHttpDate,
  unsatisfiedRange,
  type Validators,
} from '../../firmware/src/http/range.js';

describe('decideRange (RFC 9110 14.1, 14.2)', () => {
  const size = 1000;

  it('serves the whole file without a Range header', () => {
    expect(decideRange(undefined, size)).toEqual({ kind: 'full', reason: 'absent' });
  });

  it('reads int-ranges, open-ended ranges and suffix ranges', () => {
    expect(decideRange('bytes=0-99', size)).toEqual({ kind: 'partial', start: 0, end: 99 });
    expect(decideRange('bytes=100-', size)).toEqual({ kind: 'partial', start: 100, end: 999 });
    expect(decideRange('bytes=-100', size)).toEqual({ kind: 'partial', start: 900, end: 999 });
    expect(decideRange('bytes=999-999', size)).toEqual({ kind: 'partial', start: 999, end: 999 });
  });

  it('clamps a last-pos past the end and a suffix longer than the file (14.1.1)', () => {
    expect(decideRange('bytes=500-5000', size)).toEqual({ kind: 'partial', start: 500, end: 999 });
    expect(decideRange('bytes=-5000', size)).toEqual({ kind: 'partial', start: 0, end: 999 });
    expect(decideRange('bytes=0-99999999999999999999999999', size)).toEqual({ kind: 'partial', start: 0, end: 999 });
  });

  it('accepts the unit in any case, whitespace around elements and empty list elements', () => {
    expect(decideRange('Bytes=0-9', size)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decideRange('bytes= 0-9 ', size)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decideRange('bytes=0-9,', size)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decideRange('bytes=, ,0-9', size)).toEqual({ kind: 'partial', start: 0, end: 9 });
    expect(decideRange('bytes=007-008', size)).toEqual({ kind: 'partial', start: 7, end: 8 });
  });

  it('answers 416 when the single range selects nothing', () => {
    expect(decideRange('bytes=1000-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=1000-2000', size)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=99999999999999999999-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-0', size)).toEqual({ kind: 'unsatisfiable' });
  });

  it('ignores malformed headers (whole file, 200)', () => {
    for (const header of [
      'bytes',
      'bytes=',
      'bytes=abc',
      'bytes=1-2-3',
      'bytes=--5',
      'bytes=5',
      'bytes=0x10-',
      'bytes=-',
      'bytes=9-5',
      '=0-5',
      'by tes=0-5',
      'bytes=1 -5',
      'bytes=+1-5',
    ]) {
      expect(decideRange(header, size), header).toEqual({ kind: 'full', reason: 'malformed' });
    }
    // A reversed range inside a list makes the whole header invalid.
    expect(decideRange('bytes=0-5,9-1', size)).toEqual({ kind: 'full', reason: 'malformed' });
  });

  it('ignores units other than bytes', () => {
    expect(decideRange('items=0-5', size)).toEqual({ kind: 'full', reason: 'other-unit' });
  });

  it('serves the whole file for several ranges instead of multipart/byteranges', () => {
    expect(decideRange('bytes=0-0,-1', size)).toEqual({ kind: 'full', reason: 'multiple' });
    expect(decideRange('bytes=0-99,100-199', size)).toEqual({ kind: 'full', reason: 'multiple' });
    // Even when every one of them is unsatisfiable: the header is simply not used.
    expect(decideRange('bytes=2000-,3000-', size)).toEqual({ kind: 'full', reason: 'multiple' });
  });

  it('handles a zero-length file', () => {
    expect(decideRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(decideRange('bytes=-10', 0)).toEqual({ kind: 'full', reason: 'empty-representation' });
  });

  it('formats Content-Range (14.4)', () => {
    expect(contentRange(0, 99, 1000)).toBe('bytes 0-99/1000');
    expect(unsatisfiedRange(1000)).toBe('bytes */1000');
  });
});

describe('HTTP-dates (RFC 9110 5.6.7)', () => {
  const expected = Date.UTC(1994, 10, 6, 8, 49, 37) / 1000;

  it('reads all three formats as GMT', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(expected);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(expected);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(expected);
  });

  it('refuses anything else', () => {
    for (const text of [
      '',
      'yesterday',
      '1994-11-06T08:49:37Z',
      'Sun, 06 Nov 1994 08:49:37 CET',
      'Sun, 31 Feb 1994 08:49:37 GMT',
      'Sun, 06 Foo 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 25:49:37 GMT',
    ]) {
      expect(parseHttpDate(text), text).toBeUndefined();
    }
  });

  it('round-trips with formatHttpDate', () => {
    expect(formatHttpDate(expected)).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
    expect(parseHttpDate(formatHttpDate(1_700_000_000))).toBe(1_700_000_000);
  });
});

describe('entity tags (RFC 9110 8.8.3)', () => {
  it('parses strong and weak tags', () => {
    expect(parseEntityTag('"abc"')).toEqual({ weak: false, opaque: '"abc"' });
    expect(parseEntityTag('W/"abc"')).toEqual({ weak: true, opaque: '"abc"' });
    expect(parseEntityTag('abc')).toBeUndefined();
    expect(parseEntityTag('"a"b"')).toBeUndefined();
  });

  it('parses lists, `*` and tags containing commas', () => {
    expect(parseEntityTagList('*')).toEqual({ any: true });
    expect(parseEntityTagList('"a", W/"b" ,, "c,d"')).toEqual({
      any: false,
      tags: [
        { weak: false, opaque: '"a"' },
        { weak: true, opaque: '"b"' },
        { weak: false, opaque: '"c,d"' },
      ],
    });
    expect(parseEntityTagList('"a", b')).toBeUndefined();
    expect(parseEntityTagList('')).toBeUndefined();
  });
});

describe('preconditions (RFC 9110 13.1, 13.2.2)', () => {
  const current: Validators = { etag: '"1-2-3"', lastModified: 1_700_000_000 };
  const before = formatHttpDate(current.lastModified - 10);
  const same = formatHttpDate(current.lastModified);
  const after = formatHttpDate(current.lastModified + 10);

  it('proceeds without conditional headers', () => {
    expect(evaluatePreconditions('GET', {}, current)).toBe('proceed');
  });

  it('If-None-Match: 304 on a weak match or *, for GET and HEAD', () => {
    expect(evaluatePreconditions('GET', { ifNoneMatch: '"1-2-3"' }, current)).toBe('not-modified');
    expect(evaluatePreconditions('HEAD', { ifNoneMatch: 'W/"1-2-3"' }, current)).toBe('not-modified');
    expect(evaluatePreconditions('GET', { ifNoneMatch: '"x", "1-2-3"' }, current)).toBe('not-modified');
    expect(evaluatePreconditions('GET', { ifNoneMatch: '*' }, current)).toBe('not-modified');
    expect(evaluatePreconditions('GET', { ifNoneMatch: '"other"' }, current)).toBe('proceed');
  });

  it('If-None-Match takes precedence over If-Modified-Since (13.1.3)', () => {
    expect(evaluatePreconditions('GET', { ifNoneMatch: '"other"', ifModifiedSince: after }, current)).toBe('proceed');
  });

  it('If-Modified-Since: 304 when not modified since the date, ignored when malformed', () => {
    expect(evaluatePreconditions('GET', { ifModifiedSince: same }, current)).toBe('not-modified');
    expect(evaluatePreconditions('GET', { ifModifiedSince: after }, current)).toBe('not-modified');
    expect(evaluatePreconditions('GET', { ifModifiedSince: before }, current)).toBe('proceed');
    expect(evaluatePreconditions('GET', { ifModifiedSince: 'not a date' }, current)).toBe('proceed');
    expect(evaluatePreconditions('POST', { ifModifiedSince: same }, current)).toBe('proceed');
  });

  it('If-Match (strong) and If-Unmodified-Since: 412 when they fail', () => {
    expect(evaluatePreconditions('GET', { ifMatch: '"1-2-3"' }, current)).toBe('proceed');
    expect(evaluatePreconditions('GET', { ifMatch: '*' }, current)).toBe('proceed');
    expect(evaluatePreconditions('GET', { ifMatch: 'W/"1-2-3"' }, current)).toBe('precondition-failed');
    expect(evaluatePreconditions('GET', { ifMatch: '"other"' }, current)).toBe('precondition-failed');
    expect(evaluatePreconditions('GET', { ifUnmodifiedSince: before }, current)).toBe('precondition-failed');
    expect(evaluatePreconditions('GET', { ifUnmodifiedSince: same }, current)).toBe('proceed');
    // If-Match present: If-Unmodified-Since is not evaluated.
    expect(evaluatePreconditions('GET', { ifMatch: '"1-2-3"', ifUnmodifiedSince: before }, current)).toBe('proceed');
  });
});

describe('If-Range (RFC 9110 13.1.5)', () => {
  const current: Validators = { etag: '"1-2-3"', lastModified: 1_700_000_000 };
  const now = current.lastModified + 100;

  it('allows the range without If-Range', () => {
    expect(ifRangeAllowsRange(undefined, current, now)).toBe(true);
  });

  it('needs a strong match for an entity tag', () => {
    expect(ifRangeAllowsRange('"1-2-3"', current, now)).toBe(true);
    expect(ifRangeAllowsRange('W/"1-2-3"', current, now)).toBe(false);
    expect(ifRangeAllowsRange('"old"', current, now)).toBe(false);
    expect(ifRangeAllowsRange('"1-2-3"', { ...current, etag: 'W/"1-2-3"' }, now)).toBe(false);
  });

  it('needs an exact date that is a strong validator', () => {
    expect(ifRangeAllowsRange(formatHttpDate(current.lastModified), current, now)).toBe(true);
    expect(ifRangeAllowsRange(formatHttpDate(current.lastModified + 1), current, now)).toBe(false);
    // Modified within the current second: the date could hide a second change (8.8.2.2).
    expect(ifRangeAllowsRange(formatHttpDate(current.lastModified), current, current.lastModified)).toBe(false);
  });

  it('treats a malformed value as a mismatch (whole file)', () => {
    expect(ifRangeAllowsRange('garbage', current, now)).toBe(false);
  });
});
