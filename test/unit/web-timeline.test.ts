// web/timeline.ts: stage events to segments, and the chart's geometry.

import { describe, expect, it } from 'vitest';
import type { RackbootEvent } from '../../firmware/src/model/api.js';
import { chartLayout, diagnosisMarks, latestBoot, stageSegments } from '../../web/timeline.js';

let id = 1;
const stage = (s: RackbootEvent['stage'], at: number): RackbootEvent => ({ id: id++, type: 'stage', stage: s, at, message: '' });

describe('stageSegments', () => {
  it('turns stage events into back-to-back segments, the last one running until now', () => {
    const events = [stage('dhcp_discover', 1000), stage('offered', 1500), stage('kernel', 4000)];
    expect(stageSegments(events, 9000)).toEqual([
      { stage: 'dhcp_discover', from: 1000, to: 1500 },
      { stage: 'offered', from: 1500, to: 4000 },
      { stage: 'kernel', from: 4000, to: 9000 },
    ]);
  });

  it('sorts events by time and merges repeats of a stage', () => {
    const events = [
      stage('offered', 3000),
      stage('dhcp_discover', 1000),
      stage('dhcp_discover', 2000),
      { ...stage('booted', 5000), type: 'diagnosis' as const },
    ];
    expect(stageSegments(events, 4000)).toEqual([
      { stage: 'dhcp_discover', from: 1000, to: 3000 },
      { stage: 'offered', from: 3000, to: 4000 },
    ]);
  });

  it('draws a resting stage (booted, off) at the end as a point, not a bar up to now', () => {
    expect(stageSegments([stage('kernel', 1000), stage('booted', 3000)], 90_000)).toEqual([
      { stage: 'kernel', from: 1000, to: 3000 },
      { stage: 'booted', from: 3000, to: 3000 },
    ]);
  });

  it('never ends before it starts when the clock is behind the last event', () => {
    expect(stageSegments([stage('kernel', 5000)], 1000)).toEqual([{ stage: 'kernel', from: 5000, to: 5000 }]);
  });

  it('falls back to the current stage when there are no stage events', () => {
    expect(stageSegments([], 9000, { stage: 'kernel', stageSince: 2000 })).toEqual([{ stage: 'kernel', from: 2000, to: 9000 }]);
    expect(stageSegments([], 9000, { stage: 'off', stageSince: 2000 })).toEqual([]);
    expect(stageSegments([], 9000)).toEqual([]);
  });

  it('ignores stages it does not know', () => {
    expect(stageSegments([stage('warp' as never, 1)], 5)).toEqual([]);
  });
});

describe('latestBoot', () => {
  it('keeps the segments from the last boot start; power-on then DISCOVER is one boot', () => {
    const segments = stageSegments(
      [stage('dhcp_discover', 0), stage('booted', 10), stage('off', 20), stage('power_on', 30), stage('dhcp_discover', 31), stage('kernel', 40)],
      50,
    );
    expect(latestBoot(segments).map((s) => s.stage)).toEqual(['power_on', 'dhcp_discover', 'kernel']);
    const rediscover = stageSegments([stage('power_on', 0), stage('dhcp_discover', 1), stage('offered', 2), stage('dhcp_discover', 9)], 10);
    expect(latestBoot(rediscover).map((s) => s.stage)).toEqual(['dhcp_discover']);
    expect(latestBoot([])).toEqual([]);
  });
});

describe('diagnosisMarks and chartLayout', () => {
  it('marks diagnoses and spans the chart over segments and marks', () => {
    const events: RackbootEvent[] = [stage('dhcp_discover', 1000), { id: 99, type: 'diagnosis', diagnosis: 'no_offer', at: 7000, message: 'lost' }];
    const marks = diagnosisMarks(events);
    expect(marks).toEqual([{ at: 7000, diagnosis: 'no_offer', message: 'lost' }]);
    const layout = chartLayout(stageSegments(events, 5000), marks, 640);
    expect(layout.start).toBe(1000);
    expect(layout.end).toBe(7000);
    expect(layout.x(1000)).toBe(layout.left);
    expect(layout.x(7000)).toBe(640 - 10);
    // booted is the top row, off the bottom one.
    expect(layout.y('booted')).toBe(layout.top);
    expect(layout.y('off')).toBeGreaterThan(layout.y('kernel'));
  });

  it('gives a zero-length timeline a width', () => {
    const layout = chartLayout([{ stage: 'off', from: 5, to: 5 }], []);
    expect(layout.end).toBeGreaterThan(layout.start);
    expect(Number.isFinite(layout.x(5))).toBe(true);
  });
});
