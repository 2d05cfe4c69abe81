// Words and numbers for people: stage and diagnosis names, times, durations.
// Pure functions (unit-tested in test/unit/web-format.test.ts).

import type { NodeLoader } from '../firmware/src/model/api.js';
import { BOOT_STAGES, DIAGNOSES, type BootStage, type Diagnosis } from '../firmware/src/model/boot.js';

export { BOOT_STAGES, DIAGNOSES };

const STAGE_LABELS: Record<BootStage, string> = {
  off: 'Off',
  power_on: 'Powering on',
  dhcp_discover: 'DHCP discover',
  offered: 'Offered',
  acknowledged: 'Acknowledged',
  nbp_tftp: 'TFTP (iPXE)',
  ipxe_dhcp: 'iPXE DHCP',
  script: 'Boot script',
  kernel: 'Kernel',
  initrd: 'Initrd',
  booted: 'Booted',
};

const DIAGNOSIS_LABELS: Record<Diagnosis, string> = {
  no_offer: 'No offer received (PXE-E51)',
  no_boot_filename: 'No boot file name (PXE-E53)',
  arp_timeout: 'ARP timeout (PXE-E11)',
  tftp_open_timeout: 'TFTP open timeout (PXE-E32)',
  tftp_read_timeout: 'TFTP read timeout (PXE-E35)',
  tftp_client_error: 'TFTP error from node (PXE-E3C)',
  kernel_load_failed: 'Kernel/initrd load failed',
  secure_boot_refused: 'Refused by Secure Boot',
  took_too_long: 'Boot took too long',
  booted: 'Booted',
};

const LOADER_LABELS: Record<NodeLoader, string> = {
  ipxe: 'iPXE',
  grub: 'GRUB',
  rpi: 'Pi bootloader',
};

/** The boot loader rackboot hands a node, as the UI names it ("iPXE", "GRUB"). */
export function loaderLabel(loader: string): string {
  return (LOADER_LABELS as Record<string, string>)[loader] ?? loader;
}

export function stageLabel(stage: string): string {
  return (STAGE_LABELS as Record<string, string>)[stage] ?? stage;
}

export function diagnosisLabel(diagnosis: string): string {
  return (DIAGNOSIS_LABELS as Record<string, string>)[diagnosis] ?? diagnosis;
}

export function isFailure(diagnosis: Diagnosis | undefined): boolean {
  return diagnosis !== undefined && diagnosis !== 'booted';
}

/** Stage colours: grey at rest, warm while DHCP/TFTP, blue in iPXE, violet loading, green booted. */
export const STAGE_COLORS: Record<BootStage, string> = {
  off: '#9aa3ad',
  power_on: '#6b7fd7',
  dhcp_discover: '#e0a526',
  offered: '#e09326',
  acknowledged: '#d9822b',
  nbp_tftp: '#cf6d2b',
  ipxe_dhcp: '#2f8fd8',
  script: '#2476bf',
  kernel: '#8a5cd1',
  initrd: '#7443c4',
  booted: '#2e9e55',
};

export function stageColor(stage: string): string {
  return (STAGE_COLORS as Record<string, string>)[stage] ?? '#9aa3ad';
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** "14:03:07" for today, "2026-11-23 14:03" otherwise (local time). */
export function formatTime(ms: number | undefined, now: number = Date.now()): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  const today = new Date(now);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time.slice(0, 5)}`;
}

/** "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)} h${Math.floor((s % 3600) / 60) ? ` ${Math.floor((s % 3600) / 60)} min` : ''}`;
  return `${Math.floor(s / 86400)} d${Math.floor((s % 86400) / 3600) ? ` ${Math.floor((s % 86400) / 3600)} h` : ''}`;
}

/** "12 s ago", "just now". */
export function formatAgo(ms: number | undefined, now: number = Date.now()): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  const seconds = (now - ms) / 1000;
  if (seconds < 2) return 'just now';
  return `${formatDuration(seconds)} ago`;
}

/** Names sort the way people count: node-2 before node-10. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b);
}
const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
