// Address conflict detection before an address is offered (RFC 2131 4.4.1
// "SHOULD probe"): an RFC 5227 ARP probe on the local segment, an ICMP echo for
// relayed subnets where ARP cannot reach. Free results are remembered for a
// second, so addresses the server probed ahead (under load) are offered at once.

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
  private readonly running = new Map<Ipv4, Promise<boolean>>();
  private readonly timeoutMs: number;
  private readonly freeCacheMs: number;

  constructor(private readonly opts: ArpProberOptions) {
    this.timeoutMs = opts.timeoutMs ?? 300;
    // Short: a host may take an address silently at any time, and an offer must rest
    // on a recent look. A second covers the look-ahead at high rates, nothing more.
    this.freeCacheMs = opts.freeCacheMs ?? 1000;
  }

  inUse(ip: Ipv4): Promise<boolean> {
    if (this.knownFree(ip)) return Promise.resolve(false);
    // A probe already under way for this address (a background one) answers this caller too.
    const running = this.running.get(ip);
    if (running) return running;
    const probe = this.probe(ip).finally(() => this.running.delete(ip));
    this.running.set(ip, probe);
    return probe;
  }

  /** True while a probe's "free" verdict for `ip` is trusted. */
  knownFree(ip: Ipv4): boolean {
    const cached = this.freeUntil.get(ip);
    return cached !== undefined && cached > this.opts.now();
  }

  private async probe(ip: Ipv4): Promise<boolean> {
    const inUse = this.opts.isConnected(ip) ? await this.arpProbe(ip) : await this.opts.icmpProbe(ip, this.timeoutMs);
    // Deleted first so the map stays in expiry order (every verdict lives freeCacheMs): pruning stops at the first live one.
    this.freeUntil.delete(ip);
    if (!inUse) this.freeUntil.set(ip, this.opts.now() + this.freeCacheMs);
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
    const now = this.opts.now();
    for (const [ip, until] of this.freeUntil) {
      if (until > now) break;
      this.freeUntil.delete(ip);
    }
  }
}
