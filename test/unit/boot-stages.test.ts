// The boot stage machine: scripted observation sequences for every good path
// and every diagnosis, plus the new-boot and never-backwards rules.
import { describe, expect, it } from 'vitest';
import {
  advance,
  checkStall,
  DEFAULT_BOOT_LIMITS,
  EVIDENCE_ITEMS,
  initialBootState,
  publicBootState,
  type BootMachineState,
  type StageChange,
} from '../../firmware/src/boot-tracking/stages.js';
import type { BootObservation, BootStage, ClientKind } from '../../firmware/src/model/boot.js';

const MAC = '52:54:00:00:00:01';
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const IP = '10.0.0.11';
const SERVER = '10.0.0.1';
const SCRIPT_URL = `http://${SERVER}/boot.ipxe`;

type Step = { kind: BootObservation['kind'] } & Record<string, unknown>;

/** Drives one node through observations and clock ticks, keeping every change. */
class Script {
  state: BootMachineState = initialBootState(MAC, T0);
  now = T0;
  readonly changes: StageChange[] = [];

  /** Feeds an observation `dt` ms after the previous step. */
  see(obs: Step, dt = 100, hints = {}): this {
    this.now += dt;
    const result = advance(this.state, { mac: MAC, at: this.now, ...obs } as BootObservation, DEFAULT_BOOT_LIMITS, hints);
    this.state = result.state;
    this.changes.push(...result.changes);
    return this;
  }

  /** Lets time pass, running the stall check once a second like the tracker. */
  wait(ms: number): this {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + 1000);
      const result = checkStall(this.state, this.now, DEFAULT_BOOT_LIMITS);
      this.state = result.state;
      this.changes.push(...result.changes);
    }
    return this;
  }

  get stages(): BootStage[] {
    return this.changes.flatMap((c) => (c.kind === 'stage' ? [c.to] : []));
  }

  get diagnoses(): string[] {
    return this.changes.flatMap((c) => (c.kind === 'diagnosis' ? [c.diagnosis] : c.kind === 'diagnosis_cleared' ? [`cleared ${c.diagnosis}`] : []));
  }

  lastDiagnosis(): Extract<StageChange, { kind: 'diagnosis' }> {
    const found = this.changes.filter((c): c is Extract<StageChange, { kind: 'diagnosis' }> => c.kind === 'diagnosis').at(-1);
    if (!found) throw new Error('no diagnosis');
    return found;
  }

  // ---- common observation builders ----
  discover(firmware: ClientKind, xid: number, ipxe = firmware === 'ipxe', dt?: number): this {
    return this.see({ kind: 'dhcp_discover', firmware, ipxe, xid }, dt);
  }
  offer(bootFile: string | undefined, proxy = false, dt?: number): this {
    return this.see({ kind: 'dhcp_offer', ip: proxy ? undefined : IP, bootFile, proxy }, dt);
  }
  request(dt?: number): this {
    return this.see({ kind: 'dhcp_request', ip: IP }, dt);
  }
  ack(firmware: ClientKind, bootFile: string | undefined, proxy = false, dt?: number): this {
    return this.see({ kind: 'dhcp_ack', ip: proxy ? undefined : IP, bootFile, firmware, ipxe: firmware === 'ipxe', proxy }, dt);
  }
  tftpProbeThenFile(file: string): this {
    return this.see({ kind: 'tftp_request', file, options: { tsize: '0' } })
      .see({ kind: 'tftp_failed', file, reason: 'aborted_probe', detail: 'tsize probe', lastBlockAcked: 0, retransmits: 0 })
      .see({ kind: 'tftp_request', file, options: { blksize: '1432' } })
      .see({ kind: 'tftp_done', file, bytes: 70_000, ms: 300, retransmits: 0 }, 300);
  }
  script(profile = 'debian', status = 200, hints = {}): this {
    return this.see({ kind: 'http_script', profile, status }, 100, hints);
  }
  download(path: string, role: 'kernel' | 'initrd' | 'other', final: boolean, ok = true, dt = 2000): this {
    return this.see({ kind: 'http_download', path, role, final, status: 200, bytes: ok ? 30_000_000 : 3_100_000, complete: ok, ms: dt }, dt);
  }
  kernelAndInitrd(): this {
    return this.download('/debian/vmlinuz', 'kernel', false).download('/debian/initrd.gz', 'initrd', true);
  }
}

describe('good paths', () => {
  it('BIOS PXE -> chainloaded iPXE over TFTP -> HTTP kernel and initrd -> OS callback', () => {
    const s = new Script()
      .discover('bios-pxe', 0x1111)
      .offer('undionly.kpxe')
      .request()
      .ack('bios-pxe', 'undionly.kpxe')
      .see({ kind: 'arp_request', target: SERVER })
      .tftpProbeThenFile('undionly.kpxe')
      .discover('ipxe', 0x2222)
      .offer(SCRIPT_URL)
      .request()
      .ack('ipxe', SCRIPT_URL)
      .script()
      .kernelAndInitrd()
      .see({ kind: 'os_booted', source: 'callback' }, 20_000);
    expect(s.stages).toEqual(['dhcp_discover', 'offered', 'acknowledged', 'nbp_tftp', 'ipxe_dhcp', 'script', 'kernel', 'initrd', 'booted']);
    expect(s.diagnoses).toEqual(['booted']);
    expect(s.state).toMatchObject({ stage: 'booted', diagnosis: 'booted', boots: 1, booted: 1, dhcpAcks: 2, ip: IP, firmware: 'ipxe' });
    const booted = s.lastDiagnosis();
    expect(booted).toMatchObject({ source: 'callback', firmware: 'bios-pxe', dhcpAcks: 2 });
    expect(booted.durationMs).toBe(s.now - T0 - 100);
    // A long quiet time after booting diagnoses nothing.
    s.wait(30 * 60_000);
    expect(s.diagnoses).toEqual(['booted']);
  });

  it('native iPXE ROM: one DHCP, the ACK leads straight to the script; booted concluded from the last download', () => {
    const s = new Script().discover('ipxe', 0x77).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script().kernelAndInitrd();
    expect(s.stages).toEqual(['dhcp_discover', 'offered', 'acknowledged', 'script', 'kernel', 'initrd']);
    s.wait(DEFAULT_BOOT_LIMITS.bootedFallbackMs - 1000);
    expect(s.state.stage).toBe('initrd');
    s.wait(1000);
    expect(s.state).toMatchObject({ stage: 'booted', diagnosis: 'booted', dhcpAcks: 1, booted: 1 });
    expect(s.lastDiagnosis()).toMatchObject({ source: 'last_download', firmware: 'ipxe', dhcpAcks: 1 });
    expect(s.state.diagnosisDetail).toContain('/debian/initrd.gz completed');
    // The callback arriving late confirms the boot (the stronger evidence) but counts nothing twice.
    s.see({ kind: 'os_booted', source: 'callback' });
    expect(s.state).toMatchObject({ stage: 'booted', booted: 1, boots: 1, diagnosisDetail: 'the OS called back' });
    expect(s.lastDiagnosis()).toMatchObject({ source: 'callback' });
    expect(s.lastDiagnosis()).not.toHaveProperty('dhcpAcks');
    expect(s.lastDiagnosis()).not.toHaveProperty('durationMs');
    // A second callback adds nothing.
    const diagnoses = s.diagnoses.length;
    s.see({ kind: 'os_booted', source: 'callback' });
    expect(s.diagnoses).toHaveLength(diagnoses);
  });

  it('UEFI HTTP Boot: the boot program comes over HTTP, no TFTP stage', () => {
    const url = `http://${SERVER}/snponly.efi`;
    const s = new Script()
      .discover('uefi-x64-http', 0x10)
      .offer(url)
      .request()
      .ack('uefi-x64-http', url)
      .download('/snponly.efi', 'other', false, true, 200)
      .discover('ipxe', 0x20)
      .offer(SCRIPT_URL)
      .request()
      .ack('ipxe', SCRIPT_URL)
      .script()
      .kernelAndInitrd()
      .see({ kind: 'os_booted', source: 'callback' });
    expect(s.stages).toEqual(['dhcp_discover', 'offered', 'acknowledged', 'ipxe_dhcp', 'script', 'kernel', 'initrd', 'booted']);
    expect(s.state.dhcpAcks).toBe(2);
    expect(s.lastDiagnosis().firmware).toBe('uefi-x64-http');
  });

  it('proxy mode: no address ACK of ours before TFTP; the proxy offer is the hand-off', () => {
    const s = new Script()
      .discover('bios-pxe', 0x30)
      .offer('undionly.kpxe', true)
      .request() // to the site's server
      .wait(5000) // the site's DHCP server takes its time; within openTimeoutMs
      .tftpProbeThenFile('undionly.kpxe')
      .discover('ipxe', 0x31)
      .offer(SCRIPT_URL, true)
      .ack('ipxe', SCRIPT_URL, true)
      .script()
      .kernelAndInitrd()
      .see({ kind: 'os_booted', source: 'callback' });
    expect(s.stages).toEqual(['dhcp_discover', 'offered', 'nbp_tftp', 'ipxe_dhcp', 'script', 'kernel', 'initrd', 'booted']);
    expect(s.diagnoses).toEqual(['booted']);
    expect(s.state.dhcpAcks).toBe(1);
  });

  it('a retry that recovers from kernel_load_failed clears the diagnosis and goes on', () => {
    const s = new Script().discover('ipxe', 1).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script().download('/debian/vmlinuz', 'kernel', false, false);
    expect(s.state.diagnosis).toBe('kernel_load_failed');
    expect(s.state.diagnosisDetail).toBe('kernel /debian/vmlinuz: 3.1 MB then the connection closed after 2.0 s');
    s.kernelAndInitrd().see({ kind: 'os_booted', source: 'callback' });
    expect(s.diagnoses).toEqual(['kernel_load_failed', 'cleared kernel_load_failed', 'booted']);
    expect(s.state).toMatchObject({ stage: 'booted', boots: 1, booted: 1 });
  });

  it('a script for a profile that ends the boot (local disk) leads to booted by the fallback', () => {
    const s = new Script().discover('ipxe', 1).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script('local', 200, { scriptEndsBoot: true });
    s.wait(DEFAULT_BOOT_LIMITS.bootedFallbackMs);
    expect(s.state).toMatchObject({ stage: 'booted', diagnosis: 'booted' });
    expect(s.state.diagnosisDetail).toContain('boot script (profile local)');
  });
});

describe('platform: the architecture the boot firmware announced', () => {
  const discover = (firmware: ClientKind, xid: number, arch?: number) => ({ kind: 'dhcp_discover' as const, firmware, ipxe: firmware === 'ipxe', xid, arch });
  const ack = (firmware: ClientKind, arch?: number) => ({
    kind: 'dhcp_ack' as const,
    ip: IP,
    bootFile: SCRIPT_URL,
    firmware,
    ipxe: firmware === 'ipxe',
    proxy: false,
    arch,
  });

  it('unknown until a boot firmware asks; the OS own DHCP tells nothing', () => {
    const s = new Script();
    expect(publicBootState(s.state)).not.toHaveProperty('arch');
    s.see(discover('plain', 0x1, 7)).see(ack('plain', 7));
    expect(s.state.arch).toBeUndefined();
    expect(s.state.platform).toBeUndefined();
  });

  it('the firmware names it, not the iPXE it chainloads (which says only x64 UEFI)', () => {
    const s = new Script()
      .see(discover('uefi-x64-http', 0x10, 16))
      .see(ack('uefi-x64-http', 16))
      .download('/snponly.efi', 'other', false, true, 200)
      .see(discover('ipxe', 0x20, 7))
      .see(ack('ipxe', 7));
    expect(publicBootState(s.state)).toMatchObject({ platform: 'uefi-x64-http', arch: 'x64 UEFI HTTP', firmware: 'ipxe' });
  });

  it('a native iPXE ROM: from its option 93', () => {
    const s = new Script().see(discover('ipxe', 0x77, 0)).see(ack('ipxe', 0));
    expect(s.state).toMatchObject({ platform: 'ipxe', arch: 'x86 BIOS' });
  });

  it("a node's next boot from other firmware (a board swapped, UEFI switched on) replaces it", () => {
    const s = new Script()
      .see(discover('bios-pxe', 0x1, 0))
      .see(ack('bios-pxe', 0))
      .see({ kind: 'os_booted', source: 'callback' }, 20_000)
      .see(discover('uefi-arm64-pxe', 0x2, 11), 60_000);
    expect(s.state).toMatchObject({ platform: 'uefi-arm64-pxe', arch: 'arm64 UEFI' });
    s.see(discover('uefi-x64-pxe', 0x3, 7), 60_000);
    expect(s.state).toMatchObject({ platform: 'uefi-x64-pxe', arch: 'x64 UEFI' });
  });
});

describe('diagnoses', () => {
  it('no_offer: two more DISCOVERs after our OFFER and no REQUEST; retransmissions keep it; a REQUEST clears it', () => {
    const s = new Script().discover('bios-pxe', 5).offer('undionly.kpxe').discover('bios-pxe', 5, false, 4000).offer('undionly.kpxe');
    expect(s.state.diagnosis).toBeUndefined();
    s.discover('bios-pxe', 5, false, 8000);
    expect(s.state.diagnosis).toBe('no_offer');
    expect(s.state.diagnosisDetail).toBe('2 DISCOVERs after our OFFER at 12:00:00 and no REQUEST: the node does not receive or accept our offers');
    expect(s.lastDiagnosis().evidence.map((e) => e.text)).toEqual([
      'DISCOVER xid 0x5 (bios-pxe)',
      `OFFER ${IP} boot file undionly.kpxe`,
      'DISCOVER xid 0x5 (bios-pxe)',
      `OFFER ${IP} boot file undionly.kpxe`,
      'DISCOVER xid 0x5 (bios-pxe)',
    ]);
    // The ROM keeps trying (even with a fresh xid): the same failure, not a new boot each time.
    s.discover('bios-pxe', 5, false, 16_000).discover('bios-pxe', 6, false, 30_000);
    expect(s.state.boots).toBe(1);
    expect(s.diagnoses).toEqual(['no_offer']);
    s.offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    expect(s.diagnoses).toEqual(['no_offer', 'cleared no_offer']);
    expect(s.state.stage).toBe('acknowledged');
  });

  it('no_offer: DISCOVERs rackboot never answered, then silence', () => {
    const s = new Script().discover('uefi-x64-pxe', 9).discover('uefi-x64-pxe', 9, false, 4000).wait(DEFAULT_BOOT_LIMITS.stallTimeoutMs);
    expect(s.state).toMatchObject({ stage: 'dhcp_discover', diagnosis: 'no_offer' });
    expect(s.state.diagnosisDetail).toBe('rackboot sent no OFFER for 2 DISCOVER(s); nothing for 60 s');
  });

  it('no_offer: a REQUEST that rackboot never ACKed, then silence', () => {
    const s = new Script().discover('bios-pxe', 9).offer('undionly.kpxe').request().wait(DEFAULT_BOOT_LIMITS.stallTimeoutMs);
    expect(s.state).toMatchObject({ stage: 'offered', diagnosis: 'no_offer' });
    expect(s.state.diagnosisDetail).toBe("the node's REQUEST got no ACK from rackboot; nothing for 60 s");
  });

  it('no_offer in the iPXE phase too', () => {
    const s = new Script().discover('bios-pxe', 1).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe').tftpProbeThenFile('undionly.kpxe');
    s.discover('ipxe', 2).offer(SCRIPT_URL).discover('ipxe', 2, true, 1000).discover('ipxe', 2, true, 2000);
    expect(s.state).toMatchObject({ stage: 'ipxe_dhcp', diagnosis: 'no_offer', boots: 1 });
  });

  it('no_boot_filename: offers without a boot file and DISCOVERs keep coming (a held node)', () => {
    const s = new Script().discover('bios-pxe', 3).offer(undefined).discover('bios-pxe', 3, false, 4000).offer(undefined).discover('bios-pxe', 3, false, 8000);
    expect(s.state.diagnosis).toBe('no_boot_filename');
    expect(s.state.diagnosisDetail).toContain('carried no boot file');
  });

  it('no_boot_filename: an ACK without a boot file and nothing after it', () => {
    const s = new Script().discover('bios-pxe', 3).offer(undefined).request().ack('bios-pxe', undefined);
    s.wait(DEFAULT_BOOT_LIMITS.openTimeoutMs - 1000);
    expect(s.state.diagnosis).toBeUndefined();
    s.wait(1000);
    expect(s.state).toMatchObject({ stage: 'acknowledged', diagnosis: 'no_boot_filename' });
  });

  it('arp_timeout: acknowledged, then only ARP requests from the node', () => {
    const s = new Script().discover('bios-pxe', 4).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    s.see({ kind: 'arp_request', target: IP }); // its own address (a probe): not counted
    for (let i = 0; i < 4; i++) s.see({ kind: 'arp_request', target: SERVER }, 1000);
    s.wait(DEFAULT_BOOT_LIMITS.openTimeoutMs);
    expect(s.state).toMatchObject({ stage: 'acknowledged', diagnosis: 'arp_timeout' });
    expect(s.state.diagnosisDetail).toMatch(/^4 ARP requests and no request for undionly.kpxe in 3\d s after our ACK at 12:00:00$/);
    expect(s.lastDiagnosis().evidence.filter((e) => e.text === `ARP who-has ${SERVER}`)).toHaveLength(4);
  });

  it('tftp_open_timeout: acknowledged and no transfer at all', () => {
    const s = new Script()
      .discover('bios-pxe', 4)
      .offer('undionly.kpxe')
      .request()
      .ack('bios-pxe', 'undionly.kpxe')
      .see({ kind: 'arp_request', target: SERVER });
    s.wait(DEFAULT_BOOT_LIMITS.openTimeoutMs);
    expect(s.state.diagnosis).toBe('tftp_open_timeout');
    expect(s.state.diagnosisDetail).toMatch(/^no request for undionly.kpxe in 30 s after our ACK/);
  });

  it('tftp_open_timeout: the transfer timed out before block 1 was acknowledged', () => {
    const s = new Script().discover('bios-pxe', 4).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    s.see({ kind: 'tftp_request', file: 'undionly.kpxe', options: {} })
      .see({ kind: 'tftp_retransmit', file: 'undionly.kpxe', block: 1, count: 3 }, 3000)
      .see({ kind: 'tftp_failed', file: 'undionly.kpxe', reason: 'timeout', detail: 'no ACK', lastBlockAcked: 0, retransmits: 5 }, 10_000);
    expect(s.state).toMatchObject({ stage: 'nbp_tftp', diagnosis: 'tftp_open_timeout' });
    expect(s.state.diagnosisDetail).toBe('TFTP undionly.kpxe: block 1 never acknowledged (5 retransmits): no ACK');
  });

  it('tftp_read_timeout: the node stopped acknowledging mid-transfer', () => {
    const s = new Script().discover('bios-pxe', 4).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    s.see({ kind: 'tftp_request', file: 'undionly.kpxe', options: {} })
      .see({ kind: 'tftp_retransmit', file: 'undionly.kpxe', block: 17, count: 3 }, 3000)
      .see({ kind: 'tftp_failed', file: 'undionly.kpxe', reason: 'timeout', detail: 'no ACK', lastBlockAcked: 16, retransmits: 6 }, 10_000);
    expect(s.state.diagnosis).toBe('tftp_read_timeout');
    expect(s.state.diagnosisDetail).toBe('TFTP undionly.kpxe: the node stopped acknowledging after block 16, 6 retransmits: no ACK');
    expect(s.lastDiagnosis().evidence.map((e) => e.text)).toContain('TFTP undionly.kpxe retransmit block 17 x3');
  });

  it('tftp_read_timeout: a transfer that went silent is caught by the stall check', () => {
    const s = new Script().discover('bios-pxe', 4).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    s.see({ kind: 'tftp_request', file: 'undionly.kpxe', options: {} }).see({ kind: 'tftp_retransmit', file: 'undionly.kpxe', block: 9, count: 1 });
    s.wait(DEFAULT_BOOT_LIMITS.stallTimeoutMs);
    expect(s.state.diagnosis).toBe('tftp_read_timeout');
  });

  it('tftp_client_error: the node sent an ERROR; the tsize probe abort is not one', () => {
    const s = new Script().discover('bios-pxe', 4).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    s.see({ kind: 'tftp_request', file: 'undionly.kpxe', options: { tsize: '0' } }).see({
      kind: 'tftp_failed',
      file: 'undionly.kpxe',
      reason: 'aborted_probe',
      detail: 'tsize probe',
      lastBlockAcked: 0,
      retransmits: 0,
    });
    expect(s.state.diagnosis).toBeUndefined();
    s.see({ kind: 'tftp_request', file: 'undionly.kpxe', options: {} }).see({
      kind: 'tftp_failed',
      file: 'undionly.kpxe',
      reason: 'client_error',
      detail: 'error 4: illegal operation',
      lastBlockAcked: 2,
      retransmits: 0,
    });
    expect(s.state.diagnosis).toBe('tftp_client_error');
    expect(s.state.diagnosisDetail).toBe('TFTP undionly.kpxe: the node sent an ERROR after block 2, 0 retransmits: error 4: illegal operation');
  });

  it('tftp_client_error: a refused file (not found)', () => {
    const s = new Script().discover('bios-pxe', 4).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    s.see({ kind: 'tftp_request', file: 'undionly.kpxe', options: {} }).see({
      kind: 'tftp_failed',
      file: 'undionly.kpxe',
      reason: 'refused',
      detail: 'error 1: file not found',
      lastBlockAcked: 0,
      retransmits: 0,
    });
    expect(s.state.diagnosis).toBe('tftp_client_error');
  });

  it('kernel_load_failed: HTTP error for the initrd', () => {
    const s = new Script().discover('ipxe', 1).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script().download('/debian/vmlinuz', 'kernel', false);
    s.see({ kind: 'http_download', path: '/debian/initrd.gz', role: 'initrd', final: true, status: 404, bytes: 0, complete: false, ms: 3 });
    expect(s.state).toMatchObject({ stage: 'initrd', diagnosis: 'kernel_load_failed', diagnosisDetail: 'initrd /debian/initrd.gz: HTTP 404' });
    // A stopped boot is not concluded booted, however long it stays quiet.
    s.wait(5 * 60_000);
    expect(s.state.stage).toBe('initrd');
  });

  it('kernel_load_failed: the boot script could not be served', () => {
    const s = new Script().discover('ipxe', 1).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script('debian', 500);
    expect(s.state).toMatchObject({ stage: 'script', diagnosis: 'kernel_load_failed', diagnosisDetail: 'boot script (profile debian): HTTP 500' });
  });

  it('took_too_long: progressing, but past the boot time limit', () => {
    const s = new Script().discover('ipxe', 1).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script().download('/debian/vmlinuz', 'kernel', false);
    // A huge initrd crawls in: kernel/initrd stages are not stall-checked, only bounded.
    s.wait(DEFAULT_BOOT_LIMITS.bootTimeoutMs - (s.now - T0) - 1000);
    expect(s.state.diagnosis).toBeUndefined();
    s.wait(2000);
    expect(s.state.diagnosis).toBe('took_too_long');
    expect(s.state.diagnosisDetail).toMatch(/^boot running for 90\d s \(limit 900 s\), still at kernel since 12:00:0\d$/);
  });

  it('took_too_long: powered on and no DISCOVER ever came', () => {
    const s = new Script().see({ kind: 'power_on', by: 'sequencer' }).wait(DEFAULT_BOOT_LIMITS.bootTimeoutMs);
    expect(s.state).toMatchObject({ stage: 'power_on', diagnosis: 'took_too_long' });
  });

  it('a stall after the boot program loaded (no iPXE DHCP) and after the script (no kernel)', () => {
    const a = new Script().discover('bios-pxe', 1).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe').tftpProbeThenFile('undionly.kpxe');
    a.wait(DEFAULT_BOOT_LIMITS.stallTimeoutMs);
    expect(a.state).toMatchObject({ stage: 'nbp_tftp', diagnosis: 'took_too_long' });
    expect(a.state.diagnosisDetail).toContain('undionly.kpxe loaded, then no iPXE DHCP');
    const b = new Script().discover('ipxe', 1).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script();
    b.wait(DEFAULT_BOOT_LIMITS.stallTimeoutMs);
    expect(b.state).toMatchObject({ stage: 'script', diagnosis: 'took_too_long' });
  });
});

describe('boots', () => {
  it("a plain client's DISCOVER never starts a boot; boot firmware after booted does", () => {
    const s = new Script()
      .discover('ipxe', 1)
      .offer(SCRIPT_URL)
      .request()
      .ack('ipxe', SCRIPT_URL)
      .script()
      .kernelAndInitrd()
      .see({ kind: 'os_booted', source: 'callback' });
    s.discover('plain', 99).offer(undefined).request().ack('plain', undefined);
    expect(s.state).toMatchObject({ stage: 'booted', boots: 1, dhcpAcks: 1 });
    // The running OS's ARP traffic does not wash out the evidence.
    const evidence = s.state.evidence;
    for (let i = 0; i < 30; i++) s.see({ kind: 'arp_request', target: SERVER }, 1000);
    expect(s.state.evidence).toEqual(evidence);
    s.discover('bios-pxe', 100, false, 600_000);
    expect(s.state).toMatchObject({ stage: 'dhcp_discover', boots: 2, booted: 1, dhcpAcks: 0 });
    expect(s.state.diagnosis).toBeUndefined();
    expect(s.changes.at(-1)).toMatchObject({ kind: 'stage', from: 'booted', to: 'dhcp_discover', newBoot: true });
  });

  it('a DISCOVER long after the last observation begins a new boot; a failure diagnosis ends one', () => {
    const s = new Script().discover('bios-pxe', 1).offer('undionly.kpxe');
    s.discover('bios-pxe', 2, false, DEFAULT_BOOT_LIMITS.newBootAfterMs + 1);
    expect(s.state.boots).toBe(2);
    s.request().ack('bios-pxe', 'undionly.kpxe').see({ kind: 'tftp_request', file: 'undionly.kpxe', options: {} });
    s.see({ kind: 'tftp_failed', file: 'undionly.kpxe', reason: 'timeout', detail: 'x', lastBlockAcked: 3, retransmits: 5 });
    expect(s.state.diagnosis).toBe('tftp_read_timeout');
    s.discover('bios-pxe', 3, false, 5000);
    expect(s.state).toMatchObject({ boots: 3, stage: 'dhcp_discover' });
    expect(s.state.diagnosis).toBeUndefined();
  });

  it('the firmware starting over after the ACK is a new boot', () => {
    const s = new Script().discover('bios-pxe', 1).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    s.discover('bios-pxe', 2, false, 10_000);
    expect(s.state).toMatchObject({ boots: 2, stage: 'dhcp_discover', dhcpAcks: 0 });
  });

  it('power_on begins a boot, and a DISCOVER after a long POST continues it', () => {
    const s = new Script().see({ kind: 'power_on', by: 'api' });
    expect(s.state).toMatchObject({ stage: 'power_on', boots: 1 });
    s.discover('bios-pxe', 1, false, DEFAULT_BOOT_LIMITS.newBootAfterMs + 60_000);
    expect(s.state).toMatchObject({ stage: 'dhcp_discover', boots: 1, bootStartedAt: T0 + 100 });
    s.see({ kind: 'power_off', by: 'api' });
    expect(s.state.stage).toBe('off');
    s.wait(30 * 60_000);
    expect(s.state.diagnosis).toBeUndefined();
  });

  it('never goes backwards within a boot', () => {
    const s = new Script().discover('ipxe', 1).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).script().download('/debian/vmlinuz', 'kernel', false);
    const before = s.stages.length;
    s.discover('ipxe', 2).offer(SCRIPT_URL).request().ack('ipxe', SCRIPT_URL).see({ kind: 'tftp_request', file: 'x', options: {} }).script();
    expect(s.state.stage).toBe('kernel');
    expect(s.stages.length).toBe(before);
    expect(s.state.boots).toBe(1);
  });

  it('an OS callback with no boot seen counts a boot without a duration', () => {
    const s = new Script().see({ kind: 'os_booted', source: 'callback' });
    expect(s.state).toMatchObject({ stage: 'booted', boots: 1, booted: 1 });
    expect(s.lastDiagnosis().durationMs).toBeUndefined();
  });
});

describe('the machine itself', () => {
  it('keeps the last 20 observations as evidence', () => {
    const s = new Script().discover('bios-pxe', 1).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    for (let i = 0; i < 30; i++) s.see({ kind: 'arp_request', target: `10.0.0.${100 + i}` }, 10);
    expect(s.state.evidence).toHaveLength(EVIDENCE_ITEMS);
    expect(s.state.evidence.at(-1)!.text).toBe('ARP who-has 10.0.0.129');
    expect(s.state.evidence[0].text).toBe('ARP who-has 10.0.0.110');
  });

  it('never mutates its input and reports no change when nothing is due', () => {
    const s = new Script().discover('bios-pxe', 1).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe');
    const frozen = deepFreeze(structuredClone(s.state));
    const next = advance(frozen, { kind: 'tftp_request', mac: MAC, at: s.now + 1, file: 'undionly.kpxe', options: {} });
    expect(next.state.stage).toBe('nbp_tftp');
    expect(frozen.stage).toBe('acknowledged');
    const quiet = checkStall(frozen, s.now + 1000);
    expect(quiet.state).toBe(frozen);
    expect(quiet.changes).toEqual([]);
    const due = checkStall(frozen, s.now + DEFAULT_BOOT_LIMITS.openTimeoutMs);
    expect(due.state.diagnosis).toBe('tftp_open_timeout');
  });

  it('publicBootState leaves the working memory out', () => {
    const s = new Script().discover('bios-pxe', 1);
    const view = publicBootState(s.state);
    expect(view).not.toHaveProperty('progress');
    expect(view).toMatchObject({ mac: MAC, stage: 'dhcp_discover', boots: 1 });
  });
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('Secure Boot: shim + GRUB over TFTP, and an unsigned boot program refused', () => {
  const tftpFile = (s: Script, file: string, role?: 'kernel' | 'initrd' | 'script', final = false, dt = 300) =>
    s
      .see({ kind: 'tftp_request', file, options: { blksize: '1024' }, ...(role && { role }) })
      .see({ kind: 'tftp_done', file, bytes: 1000, ms: dt, retransmits: 0, ...(role && { role }), ...(final && { final }) }, dt);

  it('GRUB reads its configuration, the kernel and the initrd by TFTP: script, kernel, initrd, then booted', () => {
    const s = new Script().discover('uefi-x64-pxe', 0x51).offer('shimx64.efi').request().ack('uefi-x64-pxe', 'shimx64.efi').tftpProbeThenFile('shimx64.efi');
    tftpFile(s, 'grubx64.efi');
    tftpFile(s, '/grub/grub.cfg', 'script');
    tftpFile(s, '/grub/node-52:54:00:00:00:01.cfg', 'script');
    tftpFile(s, '/vmlinuz', 'kernel', false, 3000);
    tftpFile(s, '/initrd.img', 'initrd', true, 1000);
    s.see({ kind: 'os_booted', source: 'callback' }, 20_000);
    expect(s.stages).toEqual(['dhcp_discover', 'offered', 'acknowledged', 'nbp_tftp', 'script', 'kernel', 'initrd', 'booted']);
    expect(s.diagnoses).toEqual(['booted']);
  });

  it('GRUB over TFTP without a callback: booted concluded from the last TFTP download', () => {
    const s = new Script().discover('uefi-x64-pxe', 0x52).offer('shimx64.efi').request().ack('uefi-x64-pxe', 'shimx64.efi').tftpProbeThenFile('shimx64.efi');
    tftpFile(s, '/grub/node-52:54:00:00:00:01.cfg', 'script');
    tftpFile(s, '/vmlinuz', 'kernel');
    tftpFile(s, '/initrd.img', 'initrd', true);
    s.wait(DEFAULT_BOOT_LIMITS.bootedFallbackMs + 2000);
    expect(s.state).toMatchObject({ stage: 'booted', diagnosis: 'booted' });
  });

  it('secure_boot_refused: the boot program read whole by TFTP, then a firmware DISCOVER and nothing else', () => {
    const s = new Script().discover('uefi-x64-pxe', 0x61).offer('snponly.efi').request().ack('uefi-x64-pxe', 'snponly.efi').tftpProbeThenFile('snponly.efi');
    // The firmware's next boot option (UEFI HTTP Boot) asks DHCP again.
    s.discover('uefi-x64-http', 0x62, false, 2000);
    expect(s.diagnoses).toEqual(['secure_boot_refused']);
    expect(s.lastDiagnosis().detail).toMatch(/snponly\.efi was read whole by TFTP/);
  });

  it('not secure_boot_refused: iPXE went on to its own DHCP; a BIOS ROM; a transfer that did not complete', () => {
    const ipxe = new Script().discover('uefi-x64-pxe', 0x71).offer('snponly.efi').request().ack('uefi-x64-pxe', 'snponly.efi').tftpProbeThenFile('snponly.efi');
    ipxe.discover('ipxe', 0x72);
    expect(ipxe.diagnoses).toEqual([]);
    const bios = new Script().discover('bios-pxe', 0x73).offer('undionly.kpxe').request().ack('bios-pxe', 'undionly.kpxe').tftpProbeThenFile('undionly.kpxe');
    bios.discover('bios-pxe', 0x74, false, 2000);
    expect(bios.diagnoses).toEqual([]);
    const partial = new Script().discover('uefi-x64-pxe', 0x75).offer('snponly.efi').request().ack('uefi-x64-pxe', 'snponly.efi');
    partial.see({ kind: 'tftp_request', file: 'snponly.efi', options: {} });
    partial.discover('uefi-x64-pxe', 0x76, false, 2000);
    expect(partial.diagnoses).not.toContain('secure_boot_refused');
  });
});
