// What `rackboot leases` prints of client-supplied host names: control
// characters (C0, DEL, C1 with the one-byte CSI U+009B) never reach the
// terminal raw, in the table or in --json, and the console's escaping is the
// same mechanism.
import { describe, expect, it } from 'vitest';
import { printable, printableJson } from '../../firmware/src/util/printable.js';
import { printable as consolePrintable } from '../../firmware/src/console/format.js';
import { formatLeaseTable } from '../../firmware/src/dhcp/lease-format.js';
import type { Lease } from '../../firmware/src/dhcp/leases.js';

/** Any C0, DEL or C1 character. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const HOSTILE = 'node\x1b]0;pwned\x07\x1b[2J\r\x9b31mred\x7f\x85end';

describe('printable()', () => {
  it('escapes C0, DEL and C1 (including U+009B) as \\xHH and leaves other text alone', () => {
    expect(printable(HOSTILE)).toBe('node\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x9b31mred\\x7f\\x85end');
    expect(printable('node-01 élan')).toBe('node-01 élan');
    expect(consolePrintable(HOSTILE)).toBe('node?]0;pwned??[2J??31mred??end');
    expect(consolePrintable('\u00e9')).toBe('?');
  });

  it('gives JSON with no raw control character that parses back to the same value', () => {
    const value = [{ hostname: HOSTILE }];
    const json = printableJson(value, 1);
    // Newlines are the indentation's; inside strings JSON escapes them.
    expect(json.replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
    expect(json).toContain('\\u009b');
    expect(JSON.parse(json)).toEqual(value);
  });
});

describe('the lease table', () => {
  it('escapes control characters in host names', () => {
    const now = 1_700_000_000_000;
    const leases: Lease[] = [
      { ip: '10.0.0.10', mac: '02:00:00:00:00:01', state: 'bound', start: now, expires: now + 3_600_000, hostname: HOSTILE },
      { ip: '10.0.0.11', mac: '02:00:00:00:00:02', state: 'declined', cause: 'decline', start: now, expires: now + 600_000 },
    ];
    const text = formatLeaseTable(leases, now);
    expect(text.replace(/\n/g, '')).not.toMatch(RAW_CONTROL);
    expect(text).toContain('node\\x1b]0;pwned');
    expect(text.split('\n')).toHaveLength(5);
  });
});
