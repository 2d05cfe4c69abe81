// Address conflict detection before an address is offered (RFC 2131 4.4.1
// "SHOULD probe"): an RFC 5227 ARP probe on the local segment, an ICMP echo for
// relayed subnets where ARP cannot reach. Free results are remembered briefly so
// a client's retransmitted DISCOVERs are not slowed down by a probe each time.

import type { Ipv4 } from './addr.js';
import type { ArpPacket } from './arp.js';

export interface ArpProberOptions {
  /** Sends an RFC 5227 probe (sender IP 0.0.0.0) for `ip`. */
  sendProbe(ip: Ipv4): void;
  /** ICMP echo probe for relayed subnets; resolves true when the address answers. */
  icmpProbe(ip: Ipv4, timeoutMs: number): Promise<boolean>;
  now(): number;
  /** How long to wait for an answer. PXE ROMs retry DISCOVER after 4 s; stay well below. */
  timeoutMs?: number;
  /** How long a "free" verdict is trusted. */
  freeCacheMs?: number;
  /** True for addresses on a subnet of our own interface, where ARP reaches. */
  isConnected(ip: Ipv4): boolean;
}

interface PendingProbe {
  resolve(inUse: boolean): void;
  timers: NodeJS.Timeout[];
}

export class ArpProber {
  private readonly pending = new Map<Ipv4, PendingProbe[]>();
  private readonly freeUntil = new Map<Ipv4, number>();
  private readonly timeoutMs: number;
  private readonly freeCacheMs: number;

  constructor(private readonly opts: ArpProberOptions) {
    this.timeoutMs = opts.timeoutMs ?? 300;
    this.freeCacheMs = opts.freeCacheMs ?? 60_000;
  }

  async inUse(ip: Ipv4): Promise<boolean> {
    const cached = this.freeUntil.get(ip);
    if (cached !== undefined && cached > this.opts.now()) return false;
    const inUse = this.opts.isConnected(ip) ? await this.arpProbe(ip) : await this.opts.icmpProbe(ip, this.timeoutMs);
    if (inUse) this.freeUntil.delete(ip);
    else this.freeUntil.set(ip, this.opts.now() + this.freeCacheMs);
    this.pruneCache();
    return inUse;
  }

  /** Feed every received ARP packet here: a packet whose sender is a probed address is a conflict. */
  handleArp(packet: ArpPacket): void {
    const waiters = this.pending.get(packet.senderIp);
    if (!waiters) return;
    this.pending.delete(packet.senderIp);
    for (const waiter of waiters) waiter.resolve(true);
  }

  private arpProbe(ip: Ipv4): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter: PendingProbe = { resolve: () => {}, timers: [] };
      const finish = (inUse: boolean): void => {
        for (const timer of waiter.timers) clearTimeout(timer);
        const list = this.pending.get(ip);
        if (list) {
          const rest = list.filter((w) => w !== waiter);
          if (rest.length) this.pending.set(ip, rest);
          else this.pending.delete(ip);
        }
        resolve(inUse);
      };
      waiter.resolve = finish;
      const list = this.pending.get(ip) ?? [];
      list.push(waiter);
      this.pending.set(ip, list);
      // Two probes, so one lost frame on a busy segment does not hide a conflict.
      this.send(ip);
      waiter.timers.push(setTimeout(() => this.send(ip), Math.floor(this.timeoutMs / 2)));
      waiter.timers.push(setTimeout(() => finish(false), this.timeoutMs));
    });
  }

  private send(ip: Ipv4): void {
    try {
      this.opts.sendProbe(ip);
    } catch {
      // A failed send only weakens the check; the timeout still answers.
    }
  }

  private pruneCache(): void {
    if (this.freeUntil.size < 4096) return;
    const now = this.opts.now();
    for (const [ip, until] of this.freeUntil) if (until <= now) this.freeUntil.delete(ip);
  }
}
