// Durations in the configuration: a plain number of seconds, or a compact string
// with units (90s, 15m, 12h, 7d, 1h30m). Whole seconds for most keys, because
// their consumers (DHCP lease times, iPXE menu timeouts) count in whole seconds;
// the power section counts in milliseconds (500ms, 2s250ms, 1.5) since relay
// presses and pacing are shorter than a second.

export const DURATION_EXPECTED = 'a duration: seconds as a whole number, or a string with units like 90s, 15m, 12h, 7d, 1h30m';

const UNIT_SECONDS = { d: 86_400, h: 3_600, m: 60, s: 1 } as const;

// Units in descending order, each at most once, so "30m1h" or "1h1h" are refused
// rather than silently summed.
const DURATION_PATTERN = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

export class DurationError extends Error {
  readonly expected = DURATION_EXPECTED;
  constructor(readonly found: string | number) {
    super(`found ${JSON.stringify(found)}, expected ${DURATION_EXPECTED}`);
    this.name = 'DurationError';
  }
}

/** Seconds in `value`: parseDuration('1h30m') === 5400, parseDuration(90) === 90. Throws DurationError. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new DurationError(value);
    return value;
  }
  const text = value.trim();
  // A bare number in a string ("90") means seconds, as an unquoted number would.
  if (/^\d+$/.test(text)) return checked(Number(text), value);
  const match = DURATION_PATTERN.exec(text);
  if (!match || text === '') throw new DurationError(value);
  const [, d, h, m, s] = match;
  const seconds = Number(d ?? 0) * UNIT_SECONDS.d + Number(h ?? 0) * UNIT_SECONDS.h + Number(m ?? 0) * UNIT_SECONDS.m + Number(s ?? 0) * UNIT_SECONDS.s;
  return checked(seconds, value);
}

function checked(seconds: number, original: string): number {
  if (!Number.isSafeInteger(seconds)) throw new DurationError(original);
  return seconds;
}

/** The shortest unit string for `seconds` (43200 -> "12h", 5400 -> "1h30m", 0 -> "0s"), for logs and docs. */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let rest = seconds;
  let out = '';
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    const count = Math.floor(rest / size);
    if (count > 0) out += `${count}${unit}`;
    rest -= count * size;
  }
  return out;
}

const MS_UNITS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;

/** Parses "500ms", "2s", "1m30s", or a number of seconds (1.5 allowed) into milliseconds; undefined when not one. */
export function parseMsDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const match = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$/.exec(text);
  if (!match || text === '') return undefined;
  const [, d, h, m, s, ms] = match;
  return Number(d ?? 0) * MS_UNITS.d + Number(h ?? 0) * MS_UNITS.h + Number(m ?? 0) * MS_UNITS.m + Number(s ?? 0) * MS_UNITS.s + Number(ms ?? 0);
}

/** `ms` in the largest unit that divides it (90000 -> "90s", 120000 -> "2m", 0 -> "0s", 1500 -> "1500ms"), for messages. */
export function formatMsDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
