// The power sequencer: switches a set of nodes on without overwhelming the boot
// server, and power-cycles nodes whose boot failed.
//
// Power-on goes in batches. A batch leaves when (1) the stagger interval since
// the previous batch has passed, (2) in adaptive mode, the server's in-flight
// TFTP+HTTP transfers are below max_transfers, and (3) fewer than
// max_early_boot nodes are in the early boot stages (power_on .. nbp_tftp,
// the UDP-heavy part of a boot that storms hurt). The batch is as large as
// batch_size and the early-boot room allow. A run can be cancelled; nodes not
// yet switched stay off.
//
// Recovery (opt-in: power.sequencer.recovery.enabled, or `recovery:` on a
// channel): when the boot tracker diagnoses a failed boot, the node is
// power-cycled after a backoff (backoff, doubled per attempt, capped at
// max_backoff), at most max_attempts times; each attempt and the giving up are
// events. Recovery cycles also respect max_early_boot. Three rules keep forged
// traffic (anyone on the boot network can send DHCP or HTTP naming a node) from
// ever power-cycling a live node:
//  - before every cycle the node's last known address is probed (liveness.ts);
//    a node that answers is not cycled, and the event says the diagnosis was
//    ignored, with the probe results;
//  - no cycle within the boot window (the inventory's boot_timeout) after an
//    operator switched the node on or cycled it: a slow boot is not a failure;
//  - attempts are reset only by an operator's action on the node, never by the
//    node booting again, so a loop of forged failures ends at max_attempts.
//
// All timing goes through Timers, so tests run on a fake clock; its now() stamps
// events, so the real one is the wall clock.

import type { Mac } from '../net/addr.js';
import type { BootStage, Diagnosis } from '../model/boot.js';
import type { NodeRecovery } from '../model/api.js';
import type { SequencerConfig } from '../config/schema.js';
import type { PowerEvent, PowerOutcome } from './service.js';
import { systemTimers, type TimerHandle, type Timers } from '../util/timers.js';
import { describeEvidence, type LivenessEvidence } from './liveness.js';

/** The stages in which a node's boot is on UDP (DHCP, TFTP) and sensitive to load. */
export const EARLY_BOOT_STAGES: readonly BootStage[] = ['power_on', 'dhcp_discover', 'offered', 'acknowledged', 'nbp_tftp'];

/** The sequencer's timers under the name power/index.ts exports. */
export type SequencerClock = Timers;
export const systemSequencerClock: Timers = systemTimers;

export type DiagnosisListener = (mac: Mac, diagnosis: Diagnosis, detail?: string) => void;

/** What the sequencer needs from the rest of rackboot (inventory, boot tracker, servers, event store). */
export interface SequencerHost {
  /** The node's current boot stage (the tracker's view); undefined for a node it has not seen. */
  stageOf(mac: Mac): BootStage | undefined;
  /** TFTP transfers plus HTTP boot-file downloads in progress now. */
  inFlightTransfers(): number;
  channelOf(mac: Mac): string | undefined;
  nameOf?(mac: Mac): string | undefined;
  emit(event: PowerEvent): void;
  /** Subscribes to boot diagnoses; returns the unsubscribe function. */
  onDiagnosis(listener: DiagnosisListener): () => void;
  /** The node's channel's own `recovery:` setting; undefined when the channel leaves it to the sequencer's. */
  channelRecovery?(mac: Mac): boolean | undefined;
  /** Probes whether the node is up (liveness.ts); asked before every recovery cycle. */
  liveness(mac: Mac): Promise<LivenessEvidence>;
  /** How long after an operator's power-on or cycle a boot may take (inventory.boot_timeout); no recovery within it. */
  readonly bootWindowMs: number;
}

/** A node's recovery as the API shows it. */
export type RecoveryStatus = NodeRecovery;

/** The actions the sequencer takes; PowerService provides them. */
export interface PowerActions {
  on(mac: Mac, by: string): Promise<PowerOutcome>;
  cycle(mac: Mac, by: string): Promise<PowerOutcome>;
}

export interface PowerOnSummary {
  switchedOn: Mac[];
  failed: { mac: Mac; message: string }[];
  /** Nodes without a power channel: nothing to switch. */
  skipped: Mac[];
  /** Nodes left off because the run was cancelled. */
  cancelled: Mac[];
}

export interface PowerOnRun {
  readonly id: number;
  readonly done: Promise<PowerOnSummary>;
  cancel(): void;
  /** Nodes still waiting for their batch. */
  pending(): Mac[];
}

interface RecoveryState {
  attempts: number;
  timer?: TimerHandle;
  /** A liveness probe is under way. */
  probing: boolean;
  gaveUp: boolean;
  /** A recovery cycle was made and the node has not booted since. */
  cycled: boolean;
}

export class PowerSequencer {
  private readonly runs = new Map<number, { cancel(): void }>();
  private nextRunId = 1;
  /** Nodes this sequencer switched on or cycled: the ones counted against max_early_boot. */
  private readonly tracked = new Set<Mac>();
  /**
   * Nodes diagnosed with a failed boot since they were last switched on: the
   * tracker may leave them at the stage they stalled in, but they hold no
   * early-boot slot (else failed nodes could block the very cycles that recover them).
   */
  private readonly stalled = new Set<Mac>();
  private readonly recovery = new Map<Mac, RecoveryState>();
  /** End of the boot window after an operator's power-on or cycle, per node. */
  private readonly bootWindows = new Map<Mac, number>();
  private readonly unsubscribe: () => void;
  private stopped = false;

  constructor(
    private readonly config: SequencerConfig,
    private readonly host: SequencerHost,
    private readonly power: PowerActions,
    private readonly clock: Timers = systemTimers,
  ) {
    this.unsubscribe = host.onDiagnosis((mac, diagnosis, detail) => this.diagnosed(mac, diagnosis, detail));
  }

  /** Nodes switched on by the sequencer (or recovery) that are in an early boot stage now. */
  earlyBootCount(): number {
    let count = 0;
    for (const mac of this.tracked) {
      if (this.stalled.has(mac)) continue;
      const stage = this.host.stageOf(mac);
      if (stage !== undefined && EARLY_BOOT_STAGES.includes(stage)) count++;
    }
    return count;
  }

  /** Power-on of `macs` (the whole rack in one call), paced as configured. */
  powerOn(macs: readonly Mac[], by: string): PowerOnRun {
    const id = this.nextRunId++;
    const summary: PowerOnSummary = { switchedOn: [], failed: [], skipped: [], cancelled: [] };
    const queue: Mac[] = [];
    for (const mac of new Set(macs)) (this.host.channelOf(mac) === undefined ? summary.skipped : queue).push(mac);
    let finish!: (summary: PowerOnSummary) => void;
    const done = new Promise<PowerOnSummary>((resolve) => (finish = resolve));
    let timer: TimerHandle;
    let cancelled = false;
    let lastBatchAt: number | undefined;
    let busy = false;

    this.host.emit({
      at: this.clock.now(),
      type: 'power',
      message: `power-on of ${queue.length} node(s) started${summary.skipped.length ? `, ${summary.skipped.length} without a power channel skipped` : ''}`,
      by,
      detail: { run: id, nodes: queue.length, skipped: summary.skipped, staggerMs: this.config.staggerMs, adaptive: this.config.adaptive },
    });

    const end = () => {
      this.runs.delete(id);
      if (timer !== undefined) this.clock.clearTimer(timer);
      timer = undefined;
      if (cancelled) summary.cancelled.push(...queue.splice(0));
      this.host.emit({
        at: this.clock.now(),
        type: 'power',
        message: `power-on run ${id} ${cancelled ? 'cancelled' : 'finished'}: ${summary.switchedOn.length} on, ${summary.failed.length} failed${summary.cancelled.length ? `, ${summary.cancelled.length} left off` : ''}`,
        by,
        detail: { run: id, ...summary },
      });
      finish(summary);
    };

    const schedule = (ms: number) => {
      if (timer !== undefined) this.clock.clearTimer(timer);
      timer = this.clock.setTimer(ms, () => {
        timer = undefined;
        void step();
      });
    };

    const step = async (): Promise<void> => {
      if (busy) return;
      if (cancelled || this.stopped || queue.length === 0) return end();
      const now = this.clock.now();
      if (lastBatchAt !== undefined && now < lastBatchAt + this.config.staggerMs) return schedule(lastBatchAt + this.config.staggerMs - now);
      if (this.config.adaptive && this.host.inFlightTransfers() >= this.config.maxTransfers) return schedule(this.config.pollMs);
      const room = this.config.maxEarlyBoot - this.earlyBootCount();
      if (room <= 0) return schedule(this.config.pollMs);
      const batch = queue.splice(0, Math.min(room, this.config.batchSize));
      lastBatchAt = now;
      busy = true;
      const outcomes = await Promise.all(batch.map((mac) => this.switchOn(mac, by)));
      busy = false;
      outcomes.forEach((outcome, i) => {
        if (outcome.ok) summary.switchedOn.push(batch[i]);
        else summary.failed.push({ mac: batch[i], message: outcome.error.message });
      });
      if (cancelled || this.stopped || queue.length === 0) return end();
      return schedule(Math.max(0, lastBatchAt + this.config.staggerMs - this.clock.now()));
    };

    this.runs.set(id, {
      cancel: () => {
        if (cancelled) return;
        cancelled = true;
        // A batch being switched finishes first; otherwise end now.
        if (!busy) end();
      },
    });
    void step();
    return { id, done, cancel: () => this.runs.get(id)?.cancel(), pending: () => [...queue] };
  }

  /** Forgets a node's recovery attempts and any pending cycle (an operator fixed it, or wants recovery to try again). */
  resetRecovery(mac: Mac): void {
    const state = this.recovery.get(mac);
    if (state?.timer !== undefined) this.clock.clearTimer(state.timer);
    this.recovery.delete(mac);
  }

  /**
   * An operator (API, console, web UI) switched the node: its recovery attempts
   * start again, and after on or cycle its boot window opens, within which
   * recovery never cycles it.
   */
  operatorAction(mac: Mac, action: 'on' | 'off' | 'cycle'): void {
    this.resetRecovery(mac);
    if (action === 'off') this.bootWindows.delete(mac);
    else this.bootWindows.set(mac, this.clock.now() + this.host.bootWindowMs);
  }

  recoveryAttempts(mac: Mac): number {
    return this.recovery.get(mac)?.attempts ?? 0;
  }

  /** Whether recovery would cycle this node: it has a channel, and the channel's `recovery:` or else the sequencer's says so. */
  recoveryOn(mac: Mac): boolean {
    if (this.host.channelOf(mac) === undefined) return false;
    return this.host.channelRecovery?.(mac) ?? this.config.recovery.enabled;
  }

  recoveryStatus(mac: Mac): RecoveryStatus {
    const windowEnd = this.bootWindowEnd(mac);
    return { on: this.recoveryOn(mac), attempts: this.recoveryAttempts(mac), ...(windowEnd !== undefined && { bootWindowEndsAt: windowEnd }) };
  }

  /** Cancels runs and pending recoveries; switches nothing. */
  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    for (const run of [...this.runs.values()]) run.cancel();
    for (const state of this.recovery.values()) if (state.timer !== undefined) this.clock.clearTimer(state.timer);
  }

  private async switchOn(mac: Mac, by: string): Promise<PowerOutcome> {
    this.operatorAction(mac, 'on');
    this.tracked.add(mac);
    this.stalled.delete(mac);
    return this.power.on(mac, by);
  }

  private diagnosed(mac: Mac, diagnosis: Diagnosis, detail?: string): void {
    if (this.stopped) return;
    if (diagnosis === 'booted') this.stalled.delete(mac);
    else this.stalled.add(mac);
    if (diagnosis === 'booted') {
      // A boot cancels a pending cycle but keeps the attempts: only an operator resets them.
      const state = this.recovery.get(mac);
      if (!state) return;
      const recovering = state.timer !== undefined || state.cycled;
      if (state.timer !== undefined) this.clock.clearTimer(state.timer);
      state.timer = undefined;
      state.cycled = false;
      if (!recovering) return;
      this.emitRecovery(mac, `${this.label(mac)} booted${state.attempts ? ` after ${state.attempts} recovery power-cycle(s)` : ''}`, {
        attempts: state.attempts,
        diagnosis,
      });
      return;
    }
    const { recovery } = this.config;
    if (!this.recoveryOn(mac)) return;
    const state = this.recovery.get(mac) ?? { attempts: 0, probing: false, gaveUp: false, cycled: false };
    this.recovery.set(mac, state);
    if (state.timer !== undefined || state.probing || state.gaveUp) return;
    if (state.attempts >= recovery.maxAttempts) {
      state.gaveUp = true;
      this.emitRecovery(
        mac,
        `${this.label(mac)}: giving up after ${state.attempts} power-cycle(s); last diagnosis ${diagnosis}${detail ? ` (${detail})` : ''}`,
        {
          attempts: state.attempts,
          maxAttempts: recovery.maxAttempts,
          diagnosis,
          gaveUp: true,
        },
      );
      return;
    }
    const backoffMs = Math.min(recovery.backoffMs * 2 ** state.attempts, recovery.maxBackoffMs);
    // Within the boot window after an operator's power-on, wait for its end: a slow boot is not a failure.
    const windowEnd = this.bootWindowEnd(mac);
    const delayMs = Math.max(backoffMs, windowEnd === undefined ? 0 : windowEnd - this.clock.now());
    state.timer = this.clock.setTimer(delayMs, () => void this.recover(mac, state, diagnosis, detail, backoffMs));
  }

  private async recover(mac: Mac, state: RecoveryState, diagnosis: Diagnosis, detail: string | undefined, backoffMs: number): Promise<void> {
    if (this.stopped || this.recovery.get(mac) !== state) return;
    const retry = (ms: number) => (state.timer = this.clock.setTimer(ms, () => void this.recover(mac, state, diagnosis, detail, backoffMs)));
    const windowEnd = this.bootWindowEnd(mac);
    if (windowEnd !== undefined) return void retry(windowEnd - this.clock.now());
    // A recovered node re-enters early boot: wait for room like a power-on batch.
    if (this.earlyBootCount() >= this.config.maxEarlyBoot) return void retry(this.config.pollMs);
    state.timer = undefined;
    state.probing = true;
    const evidence = await this.host.liveness(mac);
    state.probing = false;
    if (this.stopped || this.recovery.get(mac) !== state) return;
    const because = `${diagnosis}${detail ? ` (${detail})` : ''}`;
    if (evidence.answered) {
      // The node is up: the diagnosis came from traffic that may be forged. No attempt is counted.
      this.emitRecovery(mac, `recovery of ${this.label(mac)} skipped: ${describeEvidence(evidence)}, so the ${because} diagnosis is ignored`, {
        ignored: true,
        diagnosis,
        ...(detail !== undefined && { diagnosisDetail: detail }),
        liveness: evidence,
      });
      return;
    }
    state.attempts++;
    state.cycled = true;
    const max = this.config.recovery.maxAttempts;
    this.emitRecovery(mac, `power-cycling ${this.label(mac)} after ${because}: attempt ${state.attempts} of ${max} (${describeEvidence(evidence)})`, {
      attempt: state.attempts,
      maxAttempts: max,
      diagnosis,
      backoffMs,
      liveness: evidence,
    });
    this.tracked.add(mac);
    this.stalled.delete(mac);
    const outcome = await this.power.cycle(mac, 'recovery');
    if (!outcome.ok) {
      this.emitRecovery(mac, `power-cycling ${this.label(mac)} failed: ${outcome.error.message}`, {
        attempt: state.attempts,
        ok: false,
        code: outcome.error.code,
      });
    }
  }

  /** The end of the node's boot window when it is still open. */
  private bootWindowEnd(mac: Mac): number | undefined {
    const end = this.bootWindows.get(mac);
    if (end === undefined) return undefined;
    if (end > this.clock.now()) return end;
    this.bootWindows.delete(mac);
    return undefined;
  }

  private emitRecovery(mac: Mac, message: string, detail: Record<string, unknown>): void {
    const node = this.host.nameOf?.(mac);
    this.host.emit({ at: this.clock.now(), type: 'recovery', mac, ...(node !== undefined && { node }), message, by: 'recovery', detail });
  }

  private label(mac: Mac): string {
    return this.host.nameOf?.(mac) ?? mac;
  }
}
