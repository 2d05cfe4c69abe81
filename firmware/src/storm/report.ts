// The storm's results: per-node outcomes, the time until the last node booted,
// failures by diagnosis, as JSON and as text for people.
import { DIAGNOSES, type BootStage, type Diagnosis } from '../model/boot.js';
import type { NodeResult } from './virtual-node.js';
import type { FirmwareKind } from './timings.js';

export interface StormSummary {
  nodes: number;
  booted: number;
  failed: number;
  /** ms from the first power-on to the last node booted (null when none booted). */
  timeToLastBootedMs: number | null;
  /** ms from the storm start to the last outcome (booted or failed). */
  durationMs: number;
  bootTimeMs: { min: number; median: number; p95: number; max: number } | null;
  failuresByDiagnosis: Partial<Record<Diagnosis, number>>;
  byFirmware: Partial<Record<FirmwareKind, { nodes: number; booted: number }>>;
  bytes: { nbp: number; script: number; kernel: number; initrd: number };
  dhcpTransmissions: number;
  tftpRetransmits: number;
}

export interface StormReport {
  tool: 'rackboot storm';
  version: string;
  startedAt: string;
  options: Record<string, unknown>;
  /** Interface setup before the first power-on, and `ip` runs for the nodes' addresses. */
  setup?: { ms: number; ipRuns: number };
  /** How late the simulator's timers fired (event loop delay): large values mean the simulator, not the server, set the pace. */
  simulator?: { eventLoopDelayP99Ms: number; eventLoopDelayMaxMs: number };
  summary: StormSummary;
  nodes: NodeResult[];
}

export function summarize(results: readonly NodeResult[]): StormSummary {
  const booted = results.filter((r) => r.outcome === 'booted');
  const times = booted.map((r) => r.finishedAt - r.poweredOnAt).sort((a, b) => a - b);
  const pick = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  const failures: Partial<Record<Diagnosis, number>> = {};
  for (const r of results) if (r.outcome !== 'booted') failures[r.outcome] = (failures[r.outcome] ?? 0) + 1;
  const byFirmware: StormSummary['byFirmware'] = {};
  for (const r of results) {
    const entry = (byFirmware[r.firmware] ??= { nodes: 0, booted: 0 });
    entry.nodes++;
    if (r.outcome === 'booted') entry.booted++;
  }
  const firstPowerOn = results.length ? Math.min(...results.map((r) => r.poweredOnAt)) : 0;
  const bytes = { nbp: 0, script: 0, kernel: 0, initrd: 0 };
  for (const r of results) for (const k of Object.keys(bytes) as Array<keyof typeof bytes>) bytes[k] += r.bytes[k];
  return {
    nodes: results.length,
    booted: booted.length,
    failed: results.length - booted.length,
    timeToLastBootedMs: booted.length ? Math.max(...booted.map((r) => r.finishedAt)) - firstPowerOn : null,
    durationMs: results.length ? Math.max(...results.map((r) => r.finishedAt)) : 0,
    bootTimeMs: times.length ? { min: times[0], median: pick(0.5), p95: pick(0.95), max: times.at(-1)! } : null,
    failuresByDiagnosis: failures,
    byFirmware,
    bytes,
    dhcpTransmissions: results.reduce((a, r) => a + r.dhcpTransmissions, 0),
    tftpRetransmits: results.reduce((a, r) => a + r.tftpRetransmits, 0),
  };
}

const seconds = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** The text report: one line per node, then the totals. */
export function formatReport(report: StormReport, perNode = true): string {
  const lines: string[] = [];
  if (perNode) {
    lines.push('node  mac                firmware   ip               outcome             time     detail');
    for (const r of report.nodes) {
      lines.push(
        [
          String(r.index).padEnd(5),
          r.mac.padEnd(18),
          r.firmware.padEnd(10),
          (r.ip ?? '-').padEnd(16),
          r.outcome.padEnd(19),
          seconds(r.finishedAt - r.poweredOnAt).padStart(7),
          r.outcome === 'booted' ? '' : r.detail,
        ].join(' '),
      );
    }
    lines.push('');
  }
  const s = report.summary;
  lines.push(`booted: ${s.booted}/${s.nodes}   time until the last node booted: ${seconds(s.timeToLastBootedMs)}`);
  if (s.bootTimeMs)
    lines.push(
      `boot time per node: min ${seconds(s.bootTimeMs.min)}, median ${seconds(s.bootTimeMs.median)}, p95 ${seconds(s.bootTimeMs.p95)}, max ${seconds(s.bootTimeMs.max)}`,
    );
  const failures = DIAGNOSES.filter((d) => s.failuresByDiagnosis[d]).map((d) => `${d} ${s.failuresByDiagnosis[d]}`);
  lines.push(`failures by diagnosis: ${failures.length ? failures.join(', ') : 'none'}`);
  lines.push(`DHCP messages sent: ${s.dhcpTransmissions}, TFTP retransmissions: ${s.tftpRetransmits}`);
  if (report.simulator) lines.push(`simulator timer delay: p99 ${report.simulator.eventLoopDelayP99Ms} ms, max ${report.simulator.eventLoopDelayMaxMs} ms`);
  if (report.setup) lines.push(`setup: ${s.nodes} interfaces in ${seconds(report.setup.ms)}; node addresses set in ${report.setup.ipRuns} ip runs`);
  return lines.join('\n') + '\n';
}

/** One progress line: a bar of finished nodes, then how many are booted, failed and in each stage. */
export function progressLine(elapsedMs: number, states: ReadonlyArray<BootStage | 'failed'>, width = 30): string {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  const booted = counts.get('booted') ?? 0;
  const failed = counts.get('failed') ?? 0;
  const fill = states.length ? Math.round(((booted + failed) / states.length) * width) : 0;
  const busy = [...counts]
    .filter(([s]) => s !== 'booted' && s !== 'failed')
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
  return `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${booted}/${states.length} booted, ${failed} failed  ${(elapsedMs / 1000).toFixed(0)} s  ${busy}`;
}
