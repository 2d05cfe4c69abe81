// One virtual node's boot, stage by stage, as its firmware would do it:
// PXE/HTTP DHCP -> NBP (TFTP or HTTP) -> iPXE's own DHCP -> script -> kernel
// -> initrds. Every stage change is timestamped for the timeline; the first
// failure ends the boot with the diagnosis firmware would show.
import type { BootStage, Diagnosis } from '../model/boot.js';
import type { Ipv4, Mac } from '../net/addr.js';
import { DhcpClient, type DhcpLease } from './dhcp-client.js';
import { readIpxeScript } from './ipxe-script-reader.js';
import type { NodeNet } from './node-net.js';
import { tftpDownload } from './tftp-client.js';
import { FIRMWARE_PROFILES, IPXE_DHCP, IPXE_TCP_IDLE_SECONDS, type FirmwareKind } from './timings.js';
import type { Timers } from '../util/timers.js';

export interface StageMark {
  stage: BootStage;
  /** ms since the storm started */
  at: number;
}

export interface NodeResult {
  index: number;
  mac: Mac;
  firmware: FirmwareKind;
  outcome: Diagnosis;
  detail: string;
  ip?: Ipv4;
  /** ms since the storm started */
  poweredOnAt: number;
  finishedAt: number;
  stages: StageMark[];
  bytes: { nbp: number; script: number; kernel: number; initrd: number };
  /** DHCP messages sent (all phases) and TFTP retransmissions. */
  dhcpTransmissions: number;
  tftpRetransmits: number;
}

export interface VirtualNodeOptions {
  index: number;
  firmware: FirmwareKind;
  net: NodeNet;
  timers: Timers;
  /** The storm's time zero (timers.now() value). */
  epoch: number;
  onlyServer?: Ipv4;
  uuid: string;
  /** Called on every stage change (progress display). */
  onStage?: (index: number, stage: BootStage) => void;
}

class BootFailure extends Error {
  constructor(
    readonly diagnosis: Diagnosis,
    readonly detail: string,
  ) {
    super(detail);
  }
}

export class VirtualNode {
  readonly result: NodeResult;

  constructor(private readonly opts: VirtualNodeOptions) {
    this.result = {
      index: opts.index,
      mac: opts.net.mac,
      firmware: opts.firmware,
      outcome: 'took_too_long',
      detail: 'still booting',
      poweredOnAt: 0,
      finishedAt: 0,
      stages: [],
      bytes: { nbp: 0, script: 0, kernel: 0, initrd: 0 },
      dhcpTransmissions: 0,
      tftpRetransmits: 0,
    };
  }

  get stage(): BootStage {
    return this.result.stages.at(-1)?.stage ?? 'off';
  }

  /** Powers the node on and runs its boot to an outcome. Never throws. */
  async boot(): Promise<NodeResult> {
    this.result.poweredOnAt = this.elapsed();
    this.mark('power_on');
    try {
      await this.bootSteps();
      this.result.outcome = 'booted';
      this.result.detail = `booted in ${((this.elapsed() - this.result.poweredOnAt) / 1000).toFixed(1)} s`;
      this.mark('booted');
    } catch (error) {
      if (error instanceof BootFailure) {
        this.result.outcome = error.diagnosis;
        this.result.detail = error.detail;
      } else {
        this.result.outcome = 'kernel_load_failed';
        this.result.detail = `simulator error: ${(error as Error).message}`;
      }
    }
    this.result.finishedAt = this.elapsed();
    return this.result;
  }

  private async bootSteps(): Promise<void> {
    const profile = FIRMWARE_PROFILES[this.opts.firmware];
    let lease: DhcpLease | undefined;
    if (profile.nbp !== 'none') {
      lease = await this.dhcp(profile.dhcp, 'dhcp_discover');
      if (profile.nbp === 'tftp') {
        this.mark('nbp_tftp');
        const outcome = await tftpDownload({
          net: this.opts.net,
          timers: this.opts.timers,
          behaviour: profile.tftp,
          server: lease.nextServer,
          file: lease.bootFile,
          onBytes: (n) => (this.result.bytes.nbp = n),
        });
        this.result.tftpRetransmits += outcome.retransmits;
        if (!outcome.ok) throw new BootFailure(outcome.diagnosis, outcome.detail);
      } else {
        // UEFI HTTP Boot: the NBP comes over HTTP; the stage table has no own stage for it.
        this.mark('nbp_tftp');
        const got = await this.opts.net.httpGet(lease.bootFile, {
          keepBody: false,
          idleMs: IPXE_TCP_IDLE_SECONDS * 1000,
          onBytes: (n) => (this.result.bytes.nbp = n),
        });
        this.checkDownload(lease.bootFile, got, 'NBP');
      }
    }
    // iPXE now runs (chainloaded, or the NIC's own ROM) and asks for an address again.
    const ipxeLease = await this.dhcp(IPXE_DHCP, profile.nbp === 'none' ? 'dhcp_discover' : 'ipxe_dhcp');
    let url = ipxeLease.bootFile;
    if (!/^https?:\/\//.test(url)) throw new BootFailure('no_boot_filename', `iPXE got boot file "${url}", not an HTTP URL`);
    const platform = this.opts.firmware === 'bios-pxe' || this.opts.firmware === 'ipxe' ? 'pcbios' : 'efi';
    const vars = { mac: this.opts.net.mac, ip: ipxeLease.ip, platform } as const;
    for (let depth = 0; depth < 4; depth++) {
      url = expandUrl(url, vars);
      this.mark('script');
      const got = await this.opts.net.httpGet(url, { keepBody: true, idleMs: IPXE_TCP_IDLE_SECONDS * 1000 });
      this.checkDownload(url, got, 'script');
      this.result.bytes.script += got.bytes;
      let plan;
      try {
        plan = readIpxeScript(got.body!.toString('utf8'), url, vars);
      } catch (error) {
        throw new BootFailure('kernel_load_failed', `${url}: ${(error as Error).message}`);
      }
      if (plan.chain) {
        url = plan.chain;
        continue;
      }
      if (!plan.kernel) throw new BootFailure('kernel_load_failed', `${url}: the script loads no kernel`);
      this.mark('kernel');
      const kernel = await this.opts.net.httpGet(plan.kernel, {
        keepBody: false,
        idleMs: IPXE_TCP_IDLE_SECONDS * 1000,
        onBytes: (n) => (this.result.bytes.kernel = n),
      });
      this.checkDownload(plan.kernel, kernel, 'kernel');
      for (const initrd of plan.initrds) {
        if (this.stage !== 'initrd') this.mark('initrd');
        const before = this.result.bytes.initrd;
        const got = await this.opts.net.httpGet(initrd, {
          keepBody: false,
          idleMs: IPXE_TCP_IDLE_SECONDS * 1000,
          onBytes: (n) => (this.result.bytes.initrd = before + n),
        });
        this.checkDownload(initrd, got, 'initrd');
      }
      return;
    }
    throw new BootFailure('kernel_load_failed', 'more than 4 chained scripts');
  }

  private async dhcp(behaviour: typeof IPXE_DHCP, stage: BootStage): Promise<DhcpLease> {
    this.mark(stage);
    const client = new DhcpClient({
      net: this.opts.net,
      timers: this.opts.timers,
      behaviour,
      onlyServer: this.opts.onlyServer,
      uuid: this.opts.uuid,
      events: stage === 'dhcp_discover' ? { offered: () => this.mark('offered'), acknowledged: () => this.mark('acknowledged') } : {},
    });
    const outcome = await client.run();
    this.result.dhcpTransmissions += outcome.transmissions;
    if (!outcome.ok) throw new BootFailure(outcome.diagnosis, stage === 'ipxe_dhcp' ? `iPXE: ${outcome.detail}` : outcome.detail);
    this.result.ip = outcome.lease.ip;
    return outcome.lease;
  }

  private checkDownload(url: string, got: Awaited<ReturnType<NodeNet['httpGet']>>, what: string): void {
    if (got.error) throw new BootFailure('kernel_load_failed', `${what} ${url}: ${got.error} after ${got.bytes} bytes`);
    if (got.status !== 200) throw new BootFailure('kernel_load_failed', `${what} ${url}: HTTP ${got.status}`);
    if (got.expected !== undefined && got.bytes !== got.expected) {
      throw new BootFailure('kernel_load_failed', `${what} ${url}: ${got.bytes} of ${got.expected} bytes, connection closed`);
    }
  }

  private mark(stage: BootStage): void {
    this.result.stages.push({ stage, at: this.elapsed() });
    this.opts.onStage?.(this.opts.index, stage);
  }

  private elapsed(): number {
    return Math.round(this.opts.timers.now() - this.opts.epoch);
  }
}

/** iPXE expands ${...} in the boot file name it was given (rackboot hands out ?mac=${netX/mac}). */
function expandUrl(url: string, vars: { mac: string; ip: string; platform: string }): string {
  return url.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const key = name.replace(/^net[0-9X]\//, '');
    return key === 'mac' ? vars.mac : key === 'ip' ? vars.ip : key === 'platform' ? vars.platform : '';
  });
}
