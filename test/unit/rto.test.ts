// The RFC 6298 retransmission-timeout estimator: section 2 arithmetic (first
// and later samples, G, the clamps), 5.5 backoff, and the backoff ending on an
// ACK for a resent packet only while the round trip fits the estimate.
import { describe, expect, it } from 'vitest';
import { RtoEstimator } from '../../firmware/src/util/rto.js';

const WIDE = { minMs: 0, maxMs: 60_000, initialMs: 1000 };

describe('RtoEstimator', () => {
  it('starts at the initial RTO, clamped to the bounds (2.1)', () => {
    expect(new RtoEstimator(WIDE).rto).toBe(1000);
    expect(new RtoEstimator({ minMs: 200, maxMs: 5000, initialMs: 50 }).rto).toBe(200);
    expect(new RtoEstimator({ minMs: 200, maxMs: 5000, initialMs: 9000 }).rto).toBe(5000);
    expect(new RtoEstimator({ minMs: 200, maxMs: 5000, initialMs: 50 }).expected).toBe(200);
  });

  it('first sample R: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR = 3R (2.2)', () => {
    const rto = new RtoEstimator(WIDE);
    rto.sample(100);
    expect(rto.rto).toBe(300);
    expect(rto.expected).toBe(300);
  });

  it('later samples: RTTVAR from the old SRTT first, then SRTT, with alpha 1/8 and beta 1/4 (2.3)', () => {
    const rto = new RtoEstimator(WIDE);
    rto.sample(100); // SRTT 100, RTTVAR 50
    rto.sample(200); // RTTVAR 3/4 * 50 + 1/4 * |100 - 200| = 62.5; SRTT 7/8 * 100 + 1/8 * 200 = 112.5
    expect(rto.rto).toBe(112.5 + 4 * 62.5);
    rto.sample(112.5); // RTTVAR 3/4 * 62.5 + 0 = 46.875; SRTT 112.5
    expect(rto.rto).toBe(112.5 + 4 * 46.875);
  });

  it('adds at least the clock granularity G = 1 ms for the variation', () => {
    const rto = new RtoEstimator(WIDE);
    rto.sample(0);
    expect(rto.rto).toBe(1);
    rto.sample(0);
    expect(rto.rto).toBe(1);
  });

  it('counts a negative sample (a clock step) as 0', () => {
    const rto = new RtoEstimator(WIDE);
    rto.sample(-50);
    expect(rto.rto).toBe(1);
  });

  it('clamps the RTO from samples to the floor and the ceiling (2.4, 2.5)', () => {
    const low = new RtoEstimator({ minMs: 200, maxMs: 5000, initialMs: 1000 });
    low.sample(10);
    expect(low.rto).toBe(200);
    const high = new RtoEstimator({ minMs: 200, maxMs: 5000, initialMs: 1000 });
    high.sample(3000);
    expect(high.rto).toBe(5000);
  });

  it('doubles on each backoff up to the ceiling, and the next sample sets it from the estimate again (5.5, 5.7)', () => {
    const rto = new RtoEstimator({ minMs: 0, maxMs: 1000, initialMs: 1000 });
    rto.sample(100);
    rto.backOff();
    expect(rto.rto).toBe(600);
    rto.backOff();
    expect(rto.rto).toBe(1000);
    expect(rto.expected).toBe(300);
    rto.sample(100); // RTTVAR 37.5, SRTT 100
    expect(rto.rto).toBe(250);
  });

  it('startWith sets the timeout until the next sample or backoff, clamped, and leaves the estimate alone', () => {
    const rto = new RtoEstimator({ minMs: 200, maxMs: 5000, initialMs: 1000 });
    rto.startWith(3000);
    expect(rto.rto).toBe(3000);
    expect(rto.expected).toBe(1000);
    rto.startWith(60_000);
    expect(rto.rto).toBe(5000);
    rto.backOff();
    expect(rto.rto).toBe(5000);
  });

  describe('an ACK for a resent packet (Karn: no sample)', () => {
    it('changes nothing before the first sample', () => {
      const rto = new RtoEstimator(WIDE);
      rto.backOff();
      rto.ackOfResent(10);
      expect(rto.rto).toBe(2000);
    });

    it('ends the backoff when it came back within the estimate', () => {
      const rto = new RtoEstimator(WIDE);
      rto.sample(100);
      rto.backOff();
      rto.backOff();
      expect(rto.rto).toBe(1200);
      rto.ackOfResent(250);
      expect(rto.rto).toBe(300);
    });

    it('never raises the RTO', () => {
      const rto = new RtoEstimator(WIDE);
      rto.sample(100);
      rto.startWith(100);
      rto.ackOfResent(50);
      expect(rto.rto).toBe(100);
    });

    it('keeps the backoff when it came later than the estimate or its send time is unknown, until the next sample', () => {
      const rto = new RtoEstimator(WIDE);
      rto.sample(100);
      rto.backOff();
      rto.ackOfResent(301);
      expect(rto.rto).toBe(600);
      rto.backOff();
      rto.ackOfResent(10); // the round trip has been seen to grow: no ACK ends the backoff now
      expect(rto.rto).toBe(1200);
      rto.sample(100);
      rto.backOff();
      rto.ackOfResent(10);
      expect(rto.rto).toBe(rto.expected);

      const unknown = new RtoEstimator(WIDE);
      unknown.sample(100);
      unknown.backOff();
      unknown.ackOfResent(undefined);
      unknown.ackOfResent(10);
      expect(unknown.rto).toBe(600);
    });
  });
});
