// An 80-column table of leases, for `rackboot leases`. Host names come from
// clients (option 12) and may hold terminal escape sequences: every cell is
// made printable (util/printable.ts) before it reaches the operator's shell.
import { printable } from '../util/printable.js';
import type { Lease } from './leases.js';

/** The lease table of `rackboot leases`; `nodeNames` (MAC to inventory name) fills the NODE column, '-' for a MAC the inventory lacks. */
export function formatLeaseTable(leases: readonly Lease[], now: number, nodeNames: ReadonlyMap<string, string> = new Map()): string {
  const rows = leases.map((l) => [l.ip, l.mac, l.state, remaining(l, now), nodeNames.get(l.mac) ?? '-', l.hostname ?? ''].map((cell) => printable(cell)));
  const header = ['ADDRESS', 'MAC', 'STATE', 'EXPIRES IN', 'NODE', 'HOSTNAME'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + `\n${leases.length} lease(s)\n`;
}

function remaining(lease: Lease, now: number): string {
  if (lease.state !== 'bound' && lease.state !== 'declined') return '-';
  const seconds = Math.round((lease.expires - now) / 1000);
  if (seconds <= 0) return 'expired';
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.round(seconds / 3600)}h`;
}
