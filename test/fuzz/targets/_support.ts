// Shared by the fuzz targets: what counts as an allowed failure, and invariant checks.
// A target throws only when it found a bug; DecodeError/ConfigError on hostile input is the documented answer.

/** Thrown by a target when an invariant does not hold: a finding, not hostile input. */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvariantViolation';
  }
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Runs `fn`; an exception of one of `allowed` classes is the documented answer and returns undefined, any other escapes. */
export function allowing<T>(fn: () => T, ...allowed: ErrorClass[]): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (allowed.some((type) => error instanceof type)) return undefined;
    throw error;
  }
}

/** Splits fuzz input into fields at NUL bytes (a cheap structure for text targets). */
export function fields(data: Buffer, count: number): string[] {
  const parts = data.toString('latin1').split('\0');
  return Array.from({ length: count }, (_, i) => parts[i] ?? '');
}
