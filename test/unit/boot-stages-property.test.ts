// The stage machine under arbitrary observation sequences (fast-check): it never
// throws, never goes backwards within a boot, reports every stage change it
// makes, and keeps its bounds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  advance,
  checkStall,
  DEFAULT_BOOT_LIMITS,
  EVIDENCE_ITEMS,
  initialBootState,
  stageIndex,
  type BootMachineState,
} from '../../firmware/src/boot-tracking/stages.js';
import type { BootObservation, ClientKind } from '../../firmware/src/model/boot.js';

const MAC = '52:54:00:00:00:01';
const FIRMWARE: ClientKind[] = ['bios-pxe', 'uefi-x64-pxe', 'uefi-x64-http', 'ipxe', 'plain'];
const FILES = ['undionly.kpxe', 'snponly.efi', 'http://10.0.0.1/boot.ipxe'];

type Step = { tick: number } | { obs: Omit<BootObservation, 'mac' | 'at'>; dt: number };

const file = fc.constantFrom(...FILES);
const maybeFile = fc.option(file, { nil: undefined });
const observation: fc.Arbitrary<Omit<BootObservation, 'mac' | 'at'>> = fc.oneof(
  fc.record({ kind: fc.constant('power_on' as const), by: fc.constant('api') }),
  fc.record({ kind: fc.constant('power_off' as const), by: fc.constant('api') }),
  fc.record({ kind: fc.constant('dhcp_discover' as const), firmware: fc.constantFrom(...FIRMWARE), ipxe: fc.boolean(), xid: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('dhcp_offer' as const), bootFile: maybeFile, proxy: fc.boolean() }),
  fc.record({ kind: fc.constant('dhcp_request' as const) }),
  fc.record({ kind: fc.constant('dhcp_ack' as const), bootFile: maybeFile, firmware: fc.constantFrom(...FIRMWARE), ipxe: fc.boolean(), proxy: fc.boolean() }),
  fc.record({ kind: fc.constant('dhcp_nak' as const) }),
  fc.record({ kind: fc.constant('arp_request' as const), target: fc.constantFrom('10.0.0.1', '10.0.0.11') }),
  fc.record({ kind: fc.constant('tftp_request' as const), file, options: fc.constant({}) }),
  fc.record({ kind: fc.constant('tftp_retransmit' as const), file, block: fc.integer({ min: 1, max: 50 }), count: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ kind: fc.constant('tftp_done' as const), file, bytes: fc.nat(), ms: fc.nat(), retransmits: fc.nat() }),
  fc.record({
    kind: fc.constant('tftp_failed' as const),
    file,
    reason: fc.constantFrom('timeout' as const, 'client_error' as const, 'aborted_probe' as const, 'refused' as const, 'other' as const),
    detail: fc.constant('x'),
    lastBlockAcked: fc.integer({ min: 0, max: 20 }),
    retransmits: fc.nat({ max: 9 }),
  }),
  fc.record({ kind: fc.constant('http_script' as const), profile: fc.constant('debian'), status: fc.constantFrom(200, 404, 500) }),
  fc.record({
    kind: fc.constant('http_download' as const),
    path: fc.constantFrom('/vmlinuz', '/initrd', '/other'),
    role: fc.constantFrom('kernel' as const, 'initrd' as const, 'other' as const),
    final: fc.boolean(),
    status: fc.constantFrom(200, 206, 404),
    bytes: fc.nat(),
    complete: fc.boolean(),
    ms: fc.nat(),
  }),
  fc.record({ kind: fc.constant('os_booted' as const), source: fc.constantFrom('callback' as const, 'last_download' as const) }),
);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ obs: observation, dt: fc.integer({ min: 0, max: 200_000 }) }),
  fc.record({ tick: fc.integer({ min: 1, max: 1_000_000 }) }),
);

describe('stage machine properties', () => {
  it('holds its invariants for any sequence', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        let state: BootMachineState = initialBootState(MAC, 0);
        let now = 0;
        for (const s of steps) {
          const before = state;
          let result;
          if ('tick' in s) {
            now += s.tick;
            result = checkStall(state, now, DEFAULT_BOOT_LIMITS);
          } else {
            now += s.dt;
            result = advance(state, { ...s.obs, mac: MAC, at: now } as BootObservation, DEFAULT_BOOT_LIMITS);
          }
          state = result.state;
          // Every stage change is reported, chained from the old stage to the new one.
          let stage = before.stage;
          let restarted = false;
          for (const change of result.changes) {
            if (change.kind !== 'stage') continue;
            expect(change.from).toBe(stage);
            if (change.newBoot || change.to === 'off') restarted = true;
            else expect(stageIndex(change.to)).toBeGreaterThan(stageIndex(stage));
            stage = change.to;
          }
          expect(state.stage).toBe(stage);
          if (!restarted) expect(stageIndex(state.stage)).toBeGreaterThanOrEqual(stageIndex(before.stage));
          // Bounds and counts.
          expect(state.evidence.length).toBeLessThanOrEqual(EVIDENCE_ITEMS);
          expect(state.booted).toBeLessThanOrEqual(state.boots);
          expect(state.boots).toBeGreaterThanOrEqual(before.boots);
          if (state.stage === 'booted') expect(state.diagnosis).toBe('booted');
          if (state.diagnosis === undefined) expect(state.diagnosisDetail).toBeUndefined();
          else expect(typeof state.diagnosisDetail).toBe('string');
        }
      }),
      { numRuns: 500, seed: 20261123 },
    );
  });
});
