// Property tests for HTTP Range parsing (against a plain reading of RFC 9110 14.1.1) and
// boot-file path confinement (fast-check).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { posix } from 'node:path';
import { decideRange } from '../../firmware/src/http/range.js';
import { confinePath } from '../../firmware/src/http/boot-files.js';
import { referenceRange } from '../fuzz/targets/http-paths.js';

const digits = fc.oneof(fc.nat(20_000).map(String), fc.stringMatching(/^[0-9]{1,25}$/));
const spec = fc.oneof(
  fc.tuple(digits, fc.oneof(fc.constant(''), digits)).map(([a, b]) => `${a}-${b}`),
  digits.map((d) => `-${d}`),
  fc.string({ maxLength: 8 }),
);
const header = fc.oneof(
  fc
    .tuple(fc.constantFrom('bytes', 'BYTES', 'Bytes', 'items', 'bytes '), fc.array(spec, { minLength: 0, maxLength: 3 }), fc.constantFrom(',', ', ', ' ,'))
    .map(([unit, specs, sep]) => `${unit}=${specs.join(sep)}`),
  fc.string({ maxLength: 30 }),
);
const size = fc.oneof(fc.constant(0), fc.nat(30_000), fc.constant(Number.MAX_SAFE_INTEGER));

describe('Range properties', () => {
  it('agrees with the reference model', () => {
    fc.assert(
      fc.property(header, size, (h, n) => {
        const decision = decideRange(h, n);
        expect(decision.kind === 'full' ? { kind: 'full' } : decision).toEqual(referenceRange(h, n));
      }),
      { numRuns: 5000 },
    );
  });

  it('a partial answer always lies inside the representation', () => {
    fc.assert(
      fc.property(header, size, (h, n) => {
        const decision = decideRange(h, n);
        if (decision.kind !== 'partial') return;
        expect(decision.start).toBeGreaterThanOrEqual(0);
        expect(decision.start).toBeLessThanOrEqual(decision.end);
        expect(decision.end).toBeLessThan(n);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('boot-file path confinement properties', () => {
  const segment = fc.oneof(
    fc.constantFrom('.', '..', '%2e', '%2E%2e', '%2f', '%5c', '%00', '%', '%zz', '', 'boot', 'boot-evil', '..%2f', '\\..', 'a%20b', '%252e'),
    fc.string({ maxLength: 6 }),
  );
  it('an accepted path joins to a file under the root, never beside it', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), fc.boolean(), (segments, trailing) => {
        const raw = `/${segments.join('/')}${trailing ? '/' : ''}`;
        const confined = confinePath(raw);
        if (!confined.ok) return;
        for (const s of confined.segments) {
          expect(['', '.', '..']).not.toContain(s);
          expect(s).not.toMatch(/[/\\\u0000-\u001f\u007f]/);
        }
        const joined = posix.join('/srv/boot', ...confined.segments);
        expect(joined === '/srv/boot' || joined.startsWith('/srv/boot/')).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
