// The node's boot as a step chart: one row per stage (booted at the top),
// a coloured bar for the time spent in each stage, red ticks for failures.

import type { RackbootEvent } from '../../firmware/src/model/api.js';
import type { BootStage } from '../../firmware/src/model/boot.js';
import { BOOT_STAGES, diagnosisLabel, formatDuration, formatTime, stageColor, stageLabel } from '../format.js';
import { chartLayout, diagnosisMarks, latestBoot, stageSegments } from '../timeline.js';

export function TimelineChart({
  events,
  now,
  current,
  allBoots,
}: {
  events: readonly RackbootEvent[];
  now: number;
  current?: { stage: BootStage; stageSince: number };
  allBoots: boolean;
}) {
  const every = stageSegments(events, now, current);
  const segments = allBoots ? every : latestBoot(every);
  const since = segments[0]?.from ?? 0;
  const marks = diagnosisMarks(events).filter((m) => m.at >= since);
  if (segments.length === 0) return <p class="muted">No boot seen yet.</p>;
  const layout = chartLayout(segments, marks);
  const { x, y, rowHeight, top, left, width, height } = layout;
  const plotBottom = top + BOOT_STAGES.length * rowHeight;
  const summary = `Boot timeline from ${formatTime(layout.start)} to ${formatTime(layout.end)}: ${segments.map((s) => `${stageLabel(s.stage)} ${formatDuration((s.to - s.from) / 1000)}`).join(', ')}`;
  let path = '';
  for (const s of segments) {
    const mid = y(s.stage) + rowHeight / 2;
    path += `${path ? 'L' : 'M'}${x(s.from).toFixed(1)},${mid}L${x(s.to).toFixed(1)},${mid}`;
  }
  return (
    <div class="chart-wrap">
      <svg class="timeline" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={summary} data-segments={segments.length}>
        <title>{summary}</title>
        {BOOT_STAGES.map((stage) => (
          <g key={stage}>
            <text x={left - 6} y={y(stage) + rowHeight - 4} text-anchor="end" class="axis">
              {stageLabel(stage)}
            </text>
            <line x1={left} x2={width - 10} y1={y(stage) + rowHeight} y2={y(stage) + rowHeight} class="grid-line" />
          </g>
        ))}
        <path d={path} class="step" />
        {segments.map((s, i) => (
          <rect
            key={i}
            class="segment"
            data-stage={s.stage}
            x={x(s.from)}
            y={y(s.stage) + 2}
            width={Math.max(2, x(s.to) - x(s.from))}
            height={rowHeight - 4}
            rx={2}
            fill={stageColor(s.stage)}
          >
            <title>{`${stageLabel(s.stage)}: ${formatTime(s.from)} for ${formatDuration((s.to - s.from) / 1000)}`}</title>
          </rect>
        ))}
        {marks.map((m, i) => (
          <line key={`m${i}`} class={m.diagnosis === 'booted' ? 'mark ok' : 'mark fail'} x1={x(m.at)} x2={x(m.at)} y1={top} y2={plotBottom}>
            <title>{`${diagnosisLabel(m.diagnosis)} at ${formatTime(m.at)}: ${m.message}`}</title>
          </line>
        ))}
        <text x={left} y={height - 6} class="axis">
          {formatTime(layout.start)}
        </text>
        <text x={width - 10} y={height - 6} text-anchor="end" class="axis">
          {`${formatTime(layout.end)} (+${formatDuration((layout.end - layout.start) / 1000)})`}
        </text>
      </svg>
    </div>
  );
}
