// The retransmission timeout of RFC 6298: a smoothed round-trip time (SRTT)
// and its variation (RTTVAR) from samples, the RTO from them, doubled on each
// expiry. It only does arithmetic; the caller times its packets, decides which
// ACKs are samples (Karn's rule: never one for a packet sent more than once)
// and runs the timer.

/** RFC 6298's clock granularity G: the least the variation term adds. */
const CLOCK_GRANULARITY_MS = 1;

export interface RtoBounds {
  /** Floor for every RTO. */
  minMs: number;
  /** Ceiling for every RTO, backoff included. */
  maxMs: number;
  /** The RTO before any sample (RFC 6298 2.1), clamped to the bounds. */
  initialMs: number;
}

export class RtoEstimator {
  private srtt: number | undefined;
  private rttvar: number | undefined;
  private current: number;
  /** An ACK for a resent packet came later than the estimate allows; cleared by the next sample. */
  private rttGrew = false;

  constructor(private readonly bounds: RtoBounds) {
    this.current = this.clamp(bounds.initialMs);
  }

  /** The timeout to wait now, ms: the estimate (or the initial RTO) with any backoff. */
  get rto(): number {
    return this.current;
  }

  /** The RTO before backoff (RFC 6298 2.3), or the clamped initial RTO before the first sample. */
  get expected(): number {
    return this.estimate() ?? this.clamp(this.bounds.initialMs);
  }

  /** Sets the timeout until the next sample or backoff (e.g. one the peer negotiated), clamped. */
  startWith(ms: number): void {
    this.current = this.clamp(ms);
  }

  /** RFC 6298 2.2 and 2.3: folds in one round-trip sample (negative counts as 0) and sets the RTO from it. */
  sample(rttMs: number): void {
    const r = Math.max(0, rttMs);
    if (this.srtt === undefined || this.rttvar === undefined) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.current = this.fromEstimate(this.srtt, this.rttvar);
    this.rttGrew = false;
  }

  /** RFC 6298 5.5: the timer expired; the RTO doubles, up to the ceiling. */
  backOff(): void {
    this.current = Math.min(this.current * 2, this.bounds.maxMs);
  }

  /**
   * An ACK for a packet sent more than once: no sample (Karn), but it may end
   * the backoff. `msSinceLastSend` is how long ago the packet last went out
   * (undefined: unknown). Within the estimated RTO it fits the known path, so
   * the loss was a loss and the RTO returns to the estimate; otherwise under
   * steady loss a doubled RTO would stay doubled and keep growing. Later than
   * that, the round trip has grown past the estimate (a queue filling): the
   * backed-off RTO stays (RFC 6298 5.7) and no such ACK ends the backoff until
   * the next sample, since resetting it would resend every packet and learn
   * nothing. Before the first sample there is no estimate and nothing changes.
   */
  ackOfResent(msSinceLastSend: number | undefined): void {
    const estimate = this.estimate();
    if (estimate === undefined) return;
    if (msSinceLastSend === undefined || msSinceLastSend > estimate) this.rttGrew = true;
    else if (!this.rttGrew && this.current > estimate) this.current = estimate;
  }

  private estimate(): number | undefined {
    if (this.srtt === undefined || this.rttvar === undefined) return undefined;
    return this.fromEstimate(this.srtt, this.rttvar);
  }

  /** RFC 6298 2.3: RTO = SRTT + max(G, 4 RTTVAR), within the bounds. */
  private fromEstimate(srtt: number, rttvar: number): number {
    return this.clamp(srtt + Math.max(CLOCK_GRANULARITY_MS, 4 * rttvar));
  }

  private clamp(ms: number): number {
    return Math.min(this.bounds.maxMs, Math.max(this.bounds.minMs, ms));
  }
}
