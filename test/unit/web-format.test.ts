// web/format.ts: words for stages, diagnoses, times and durations.

import { describe, expect, it } from 'vitest';
import { BOOT_STAGES, DIAGNOSES } from '../../firmware/src/model/boot.js';
import { diagnosisLabel, formatAgo, formatDuration, formatTime, isFailure, naturalCompare, stageColor, stageLabel } from '../../web/format.js';

describe('format', () => {
  it('has words and a colour for every stage and diagnosis', () => {
    for (const stage of BOOT_STAGES) {
      expect(stageLabel(stage)).not.toBe(stage);
      expect(stageColor(stage)).toMatch(/^#[0-9a-f]{6}$/);
    }
    for (const d of DIAGNOSES) expect(diagnosisLabel(d)).not.toBe(d);
    expect(diagnosisLabel('no_offer')).toContain('PXE-E51');
    expect(stageLabel('unknown_stage')).toBe('unknown_stage');
  });

  it('tells failures from success', () => {
    expect(isFailure('booted')).toBe(false);
    expect(isFailure(undefined)).toBe(false);
    expect(isFailure('arp_timeout')).toBe(true);
  });

  it('formats durations', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(59.9)).toBe('59 s');
    expect(formatDuration(60)).toBe('1 min');
    expect(formatDuration(200)).toBe('3 min 20 s');
    expect(formatDuration(7500)).toBe('2 h 5 min');
    expect(formatDuration(3 * 86400 + 4 * 3600)).toBe('3 d 4 h');
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(Number.NaN)).toBe('—');
  });

  it('formats times: clock time today, date otherwise', () => {
    const now = new Date(2026, 10, 23, 15, 0, 0).getTime();
    expect(formatTime(new Date(2026, 10, 23, 9, 5, 7).getTime(), now)).toBe('09:05:07');
    expect(formatTime(new Date(2026, 10, 22, 9, 5, 7).getTime(), now)).toBe('2026-11-22 09:05');
    expect(formatTime(undefined, now)).toBe('—');
    expect(formatAgo(now - 500, now)).toBe('just now');
    expect(formatAgo(now - 90_000, now)).toBe('1 min 30 s ago');
  });

  it('sorts node names naturally', () => {
    expect(['node-10', 'node-2', 'Node-1'].sort(naturalCompare)).toEqual(['Node-1', 'node-2', 'node-10']);
  });
});
