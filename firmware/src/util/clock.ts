// Time comes in through this interface so lease and retry logic can be tested
// with a fake clock.
export interface Clock {
  now(): number; // milliseconds since the epoch
}

export const systemClock: Clock = { now: () => Date.now() };
