// Text for an 80-column serial terminal: every line ends in CRLF, fits the
// width (long values are cut and marked with "~"), and carries only printable
// ASCII, so a node name or event message can never send the operator's
// terminal an escape sequence.

import { printable as escapeControls } from '../util/printable.js';

export const TRUNCATION_MARK = '~';

/** Replaces control characters (util/printable.ts) and anything outside printable ASCII with '?'. */
export function printable(text: string): string {
  return escapeControls(text, { replacement: '?', asciiOnly: true });
}

/** `text` cut to `width` columns, with a mark where it was cut. */
export function fit(text: string, width: number): string {
  const clean = printable(text);
  if (width <= 0) return '';
  if (clean.length <= width) return clean;
  return clean.slice(0, width - 1) + TRUNCATION_MARK;
}

/**
 * Prose for the terminal: `text` broken at spaces into lines of at most
 * `width` columns, continuation lines indented by two; a single word longer
 * than a line is cut.
 */
export function wrap(text: string, width: number): string[] {
  const clean = printable(text);
  if (clean.length <= width) return [clean];
  const lines: string[] = [];
  let line = '';
  for (const word of clean.split(' ')) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (candidate.length <= width || line.trim() === '') {
      line = candidate;
      continue;
    }
    lines.push(line);
    line = `  ${word}`;
  }
  lines.push(line);
  return lines.map((l) => fit(l, width));
}

/** Lines (without endings) for the terminal: each fitted to `columns - 1` so no terminal wraps, joined with CRLF. */
export function screenLines(lines: readonly string[], columns: number): string {
  return lines.map((line) => fit(line, columns - 1) + '\r\n').join('');
}

export interface Column {
  title: string;
  /** Fixed width; the last column with `flex` takes what is left of the screen. */
  width?: number;
  flex?: boolean;
  align?: 'left' | 'right';
}

/** A table: header, then one row per item, every cell fitted to its column. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[], screenColumns: number, gap = 2): string[] {
  const fixed = columns.reduce((sum, c) => sum + (c.flex ? 0 : (c.width ?? c.title.length)), 0) + gap * (columns.length - 1);
  const flexCount = columns.filter((c) => c.flex).length;
  const flexWidth = flexCount ? Math.max(4, Math.floor((screenColumns - 1 - fixed) / flexCount)) : 0;
  const widths = columns.map((c) => (c.flex ? flexWidth : (c.width ?? c.title.length)));
  const render = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => {
        const text = fit(cell, widths[i]);
        return columns[i].align === 'right' ? text.padStart(widths[i]) : text.padEnd(widths[i]);
      })
      .join(' '.repeat(gap))
      .trimEnd();
  return [render(columns.map((c) => c.title)), ...rows.map(render)];
}

/** "3d 04:05:06" / "04:05:06" */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const clock = [Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60), s % 60].map((n) => String(n).padStart(2, '0')).join(':');
  return days > 0 ? `${days}d ${clock}` : clock;
}

/** Local-free, unambiguous: "2026-11-23 22:41:05" in UTC. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** "22:41:05" in UTC. */
export function formatClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

/** "5 s", "3 min", "2 h", "4 d" ago or ahead, relative to `now`. */
export function formatRelative(ms: number, now: number): string {
  const delta = Math.round((ms - now) / 1000);
  const abs = Math.abs(delta);
  if (abs === 0) return 'just now';
  const amount =
    abs < 120 ? `${abs} s` : abs < 7200 ? `${Math.round(abs / 60)} min` : abs < 172800 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return delta >= 0 ? `in ${amount}` : `${amount} ago`;
}
