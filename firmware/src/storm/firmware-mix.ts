// "bios-pxe:3,uefi-pxe:1" -> which firmware node i plays. Deterministic, so a
// rerun of the same storm gives every MAC the same firmware.
import { FIRMWARE_KINDS, type FirmwareKind } from './timings.js';

export type FirmwareMix = Array<{ kind: FirmwareKind; weight: number }>;

export function parseFirmwareMix(text: string): FirmwareMix {
  const mix: FirmwareMix = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, weightText] = part.split(':');
    if (!(FIRMWARE_KINDS as readonly string[]).includes(name)) {
      throw new Error(`firmware "${name}": expected one of ${FIRMWARE_KINDS.join(', ')}`);
    }
    const weight = weightText === undefined ? 1 : Number(weightText);
    if (!Number.isInteger(weight) || weight < 1 || weight > 1000) throw new Error(`firmware "${part}": weight must be an integer from 1 to 1000`);
    mix.push({ kind: name as FirmwareKind, weight });
  }
  if (mix.length === 0) throw new Error('firmware mix is empty; expected e.g. "bios-pxe:3,uefi-pxe:1"');
  return mix;
}

/** Interleaves kinds in proportion to their weights (smooth weighted round-robin). */
export function assignFirmware(mix: FirmwareMix, count: number): FirmwareKind[] {
  const total = mix.reduce((a, m) => a + m.weight, 0);
  const credit = mix.map(() => 0);
  const out: FirmwareKind[] = [];
  for (let i = 0; i < count; i++) {
    let best = 0;
    for (let k = 0; k < mix.length; k++) {
      credit[k] += mix[k].weight;
      if (credit[k] > credit[best]) best = k;
    }
    credit[best] -= total;
    out.push(mix[best].kind);
  }
  return out;
}

/** Locally administered MACs 02:72:62:PP:hi:lo (PP = a per-run byte so two storms never collide). */
export function stormMac(runByte: number, index: number): string {
  if (index < 0 || index > 0xffff) throw new RangeError('at most 65536 nodes');
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `02:72:62:${hex(runByte & 0xff)}:${hex(index >> 8)}:${hex(index & 0xff)}`;
}
