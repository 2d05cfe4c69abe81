// A node's boot timeline: stage events turned into time segments and the
// geometry of the small SVG step chart on the node page.
// Pure functions (unit-tested in test/unit/web-timeline.test.ts).

import type { RackbootEvent } from '../firmware/src/model/api.js';
import { BOOT_STAGES, type BootStage, type Diagnosis } from '../firmware/src/model/boot.js';

export interface StageSegment {
  stage: BootStage;
  from: number;
  to: number;
}

export interface DiagnosisMark {
  at: number;
  diagnosis: Diagnosis;
  message: string;
}

/** Stages a node rests in: drawn as a point, so a node booted days ago does not squash its boot into a sliver. */
const RESTING: ReadonlySet<BootStage> = new Set(['off', 'booted']);
/** Stages that start a new boot. */
const BOOT_START: ReadonlySet<BootStage> = new Set(['power_on', 'dhcp_discover']);

/**
 * Segments from the stage events (any order in, oldest first out). The last
 * one runs until `now`, unless the node rests there (off, booted).
 */
export function stageSegments(events: readonly RackbootEvent[], now: number, current?: { stage: BootStage; stageSince: number }): StageSegment[] {
  const stages = events
    .filter(
      (e): e is RackbootEvent & { stage: BootStage } => e.type === 'stage' && e.stage !== undefined && (BOOT_STAGES as readonly string[]).includes(e.stage),
    )
    .slice()
    .sort((a, b) => a.at - b.at || a.id - b.id);
  if (stages.length === 0) {
    // Without events only a boot under way is worth a bar; a node at rest has no timeline yet.
    if (!current || RESTING.has(current.stage)) return [];
    return [{ stage: current.stage, from: current.stageSince, to: Math.max(now, current.stageSince) }];
  }
  const segments: StageSegment[] = [];
  for (let i = 0; i < stages.length; i++) {
    const event = stages[i];
    const next = stages[i + 1];
    const to = next ? next.at : RESTING.has(event.stage) ? event.at : Math.max(now, event.at);
    const last = segments[segments.length - 1];
    // A repeated stage event (a retransmitted DISCOVER) extends the segment rather than starting a new one.
    if (last && last.stage === event.stage) last.to = to;
    else segments.push({ stage: event.stage, from: event.at, to });
  }
  return segments;
}

/** The segments of the latest boot: from the last power-on or first DISCOVER of a boot onwards. */
export function latestBoot(segments: readonly StageSegment[]): StageSegment[] {
  for (let i = segments.length - 1; i > 0; i--) {
    const segment = segments[i];
    const previous = segments[i - 1];
    // A DISCOVER right after power-on belongs to the same boot.
    if (BOOT_START.has(segment.stage) && !(segment.stage === 'dhcp_discover' && previous.stage === 'power_on')) return segments.slice(i);
  }
  return segments.slice();
}

export function diagnosisMarks(events: readonly RackbootEvent[]): DiagnosisMark[] {
  return events
    .filter((e): e is RackbootEvent & { diagnosis: Diagnosis } => e.type === 'diagnosis' && e.diagnosis !== undefined)
    .map((e) => ({ at: e.at, diagnosis: e.diagnosis, message: e.message }));
}

export interface ChartLayout {
  width: number;
  height: number;
  left: number;
  top: number;
  rowHeight: number;
  start: number;
  end: number;
  /** x for a time. */
  x: (at: number) => number;
  /** y of the top of a stage's row (booted at the top, off at the bottom). */
  y: (stage: BootStage) => number;
}

export function chartLayout(segments: readonly StageSegment[], marks: readonly DiagnosisMark[], width = 640, rowHeight = 14): ChartLayout {
  const left = 92;
  const top = 6;
  const right = 10;
  const times = [...segments.flatMap((s) => [s.from, s.to]), ...marks.map((m) => m.at)];
  const start = times.length ? Math.min(...times) : 0;
  let end = times.length ? Math.max(...times) : 1;
  if (end <= start) end = start + 1000;
  const plot = width - left - right;
  const rows = BOOT_STAGES.length;
  return {
    width,
    height: top + rows * rowHeight + 22,
    left,
    top,
    rowHeight,
    start,
    end,
    x: (at) => left + ((at - start) / (end - start)) * plot,
    y: (stage) => top + (rows - 1 - BOOT_STAGES.indexOf(stage)) * rowHeight,
  };
}
