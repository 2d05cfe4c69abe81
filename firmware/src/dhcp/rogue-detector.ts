// Another DHCP server on our segment. OFFERs, ACKs and NAKs from port 67 to
// port 68 pass the packet socket's filter; one whose server identifier (option
// 54, else the IP source) is not ours comes from a foreign server. In full DHCP
// mode that is a rogue (a misconfigured router, a test box, an attack): its
// answers race ours and can hand nodes wrong addresses and boot files. In
// proxyDHCP mode the site's server is expected, so each server is reported once,
// as information, and never again.
//
// Only what reaches us is seen: broadcast replies (clients that set the
// broadcast flag, as PXE ROMs and `udhcpc -B` do) and replies addressed to us.
// A unicast reply to another client's MAC is switched past us.
//
// Rate limits: one report when a server is first seen, then (rogue only) at most
// one per server every REPEAT_MS with the count since; the table of servers is
// bounded, so a flood of forged server identifiers cannot grow memory either.

import type { Ipv4, Mac } from '../net/addr.js';
import type { Counters } from '../util/counters.js';
import { MessageType, Opt, type DhcpMessage } from './message.js';
import { ipFromBytes } from '../net/addr.js';

/** A rogue server still answering is reported again after this long. */
export const ROGUE_REPEAT_MS = 10 * 60_000;
/** Foreign servers remembered at once; the longest unheard is forgotten first. */
const MAX_SERVERS = 64;

export interface ForeignServerReport {
  /** `rogue` in full DHCP mode; `site` in proxyDHCP mode (the expected site server). */
  kind: 'rogue' | 'site';
  serverId: Ipv4;
  /** Ethernet source of the latest reply. */
  mac: Mac;
  /** Replies from it since its previous report (the first time: 1). */
  replies: number;
  /** The latest reply's type and the address it gave. */
  messageType: 'offer' | 'ack' | 'nak';
  yiaddr: Ipv4;
  firstSeen: number;
}

export interface RogueDetectorOptions {
  serverAddress: Ipv4;
  mode: 'dhcp' | 'proxy';
  now(): number;
  counters: Counters;
  report(report: ForeignServerReport): void;
}

interface Seen {
  firstSeen: number;
  reportedAt: number;
  sinceReport: number;
}

const REPLY_TYPES: Partial<Record<number, ForeignServerReport['messageType']>> = {
  [MessageType.Offer]: 'offer',
  [MessageType.Ack]: 'ack',
  [MessageType.Nak]: 'nak',
};

export class RogueServerDetector {
  private readonly servers = new Map<Ipv4, Seen>();

  constructor(private readonly opts: RogueDetectorOptions) {}

  /** A DHCP message seen going to port 68 from port 67. */
  seen(msg: DhcpMessage, srcIp: Ipv4, srcMac: Mac): void {
    const typeCode = msg.options.get(Opt.MessageType);
    const messageType = msg.op === 2 && typeCode?.length === 1 ? REPLY_TYPES[typeCode[0]] : undefined;
    if (!messageType) return;
    const id = msg.options.get(Opt.ServerId);
    const serverId = id?.length === 4 ? ipFromBytes(id) : srcIp;
    if (serverId === this.opts.serverAddress || srcIp === this.opts.serverAddress) return;
    const kind = this.opts.mode === 'proxy' ? 'site' : 'rogue';
    this.opts.counters.inc(`dhcp.foreign_server.${kind}`);
    const now = this.opts.now();
    let seen = this.servers.get(serverId);
    if (seen) {
      seen.sinceReport++;
      // Most recently heard last, so the first entry is the one to forget.
      this.servers.delete(serverId);
      this.servers.set(serverId, seen);
      if (kind === 'site' || now - seen.reportedAt < ROGUE_REPEAT_MS) return;
    } else {
      if (this.servers.size >= MAX_SERVERS) this.servers.delete(this.servers.keys().next().value as Ipv4);
      seen = { firstSeen: now, reportedAt: now, sinceReport: 1 };
      this.servers.set(serverId, seen);
    }
    const replies = seen.sinceReport;
    seen.reportedAt = now;
    seen.sinceReport = 0;
    this.opts.counters.inc(`dhcp.foreign_server_reports.${kind}`);
    this.opts.report({ kind, serverId, mac: srcMac, replies, messageType, yiaddr: msg.yiaddr, firstSeen: seen.firstSeen });
  }
}
