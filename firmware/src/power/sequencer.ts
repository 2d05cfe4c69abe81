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
// Recovery: when the boot tracker diagnoses a failed boot, the node is
// power-cycled after a backoff (backoff, doubled per attempt, capped at
// max_backoff), at most max_attempts times until it boots; each attempt and
// the giving up are events. Recovery cycles also respect max_early_boot.
//
// All timing goes through Timers, so tests run on a fake clock; its now() stamps
// events, so the real one is the wall clock.

import type { Mac } from '../net/addr.js';
import type { BootStage, Diagnosis } from '../model/boot.js';
import type { SequencerConfig } from '../config/schema.js';
import type { PowerEvent, PowerOutcome } from './service.js';
import { systemTimers, type TimerHandle, type Timers } from '../util/timers.js';

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
}

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
  gaveUp: boolean;
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

  /** Forgets a node's recovery attempts (an operator fixed it, or wants recovery to try again). */
  resetRecovery(mac: Mac): void {
    const state = this.recovery.get(mac);
    if (state?.timer !== undefined) this.clock.clearTimer(state.timer);
    this.recovery.delete(mac);
  }

  recoveryAttempts(mac: Mac): number {
    return this.recovery.get(mac)?.attempts ?? 0;
  }

  /** Cancels runs and pending recoveries; switches nothing. */
  stop(): void {
    this.stopped = true;
    this.unsubscribe();
    for (const run of [...this.runs.values()]) run.cancel();
    for (const state of this.recovery.values()) if (state.timer !== undefined) this.clock.clearTimer(state.timer);
  }

  private async switchOn(mac: Mac, by: string): Promise<PowerOutcome> {
    this.tracked.add(mac);
    this.stalled.delete(mac);
    return this.power.on(mac, by);
  }

  private diagnosed(mac: Mac, diagnosis: Diagnosis, detail?: string): void {
    if (this.stopped) return;
    if (diagnosis === 'booted') this.stalled.delete(mac);
    else this.stalled.add(mac);
    if (diagnosis === 'booted') {
      const state = this.recovery.get(mac);
      if (state && (state.attempts > 0 || state.timer !== undefined)) {
        this.resetRecovery(mac);
        this.emitRecovery(mac, `${this.label(mac)} booted${state.attempts ? ` after ${state.attempts} recovery power-cycle(s)` : ''}`, {
          attempts: state.attempts,
          diagnosis,
        });
      }
      return;
    }
    const { recovery } = this.config;
    if (!recovery.enabled || this.host.channelOf(mac) === undefined) return;
    const state = this.recovery.get(mac) ?? { attempts: 0, gaveUp: false };
    this.recovery.set(mac, state);
    if (state.timer !== undefined || state.gaveUp) return;
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
    state.timer = this.clock.setTimer(backoffMs, () => void this.recover(mac, state, diagnosis, detail, backoffMs));
  }

  private async recover(mac: Mac, state: RecoveryState, diagnosis: Diagnosis, detail: string | undefined, backoffMs: number): Promise<void> {
    if (this.stopped || this.recovery.get(mac) !== state) return;
    // A recovered node re-enters early boot: wait for room like a power-on batch.
    if (this.earlyBootCount() >= this.config.maxEarlyBoot) {
      state.timer = this.clock.setTimer(this.config.pollMs, () => void this.recover(mac, state, diagnosis, detail, backoffMs));
      return;
    }
    state.timer = undefined;
    state.attempts++;
    const max = this.config.recovery.maxAttempts;
    this.emitRecovery(mac, `power-cycling ${this.label(mac)} after ${diagnosis}${detail ? ` (${detail})` : ''}: attempt ${state.attempts} of ${max}`, {
      attempt: state.attempts,
      maxAttempts: max,
      diagnosis,
      backoffMs,
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

  private emitRecovery(mac: Mac, message: string, detail: Record<string, unknown>): void {
    const node = this.host.nameOf?.(mac);
    this.host.emit({ at: this.clock.now(), type: 'recovery', mac, ...(node !== undefined && { node }), message, by: 'recovery', detail });
  }

  private label(mac: Mac): string {
    return this.host.nameOf?.(mac) ?? mac;
  }
}
