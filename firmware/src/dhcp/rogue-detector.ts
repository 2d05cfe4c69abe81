// Another DHCP server on our segment. OFFERs, ACKs and NAKs from port 67 to
// port 68 pass the packet socket's filter; one whose server identifier (option
// 54, else the IP source) is not ours comes from a foreign server. In full DHCP
// mode that is a rogue (a misconfigured router, a test box, an attack): its
// answers race ours and can hand nodes wrong addresses and boot files. In
// proxyDHCP mode the site's server is expected, so each server is reported once,
// as information, and never again. A reply that carries OUR server identifier
// (or our address as its source) from an Ethernet source that is not our
// interface is impersonation: someone answers in rackboot's name. It is
// reported in both modes.
//
// Only what reaches us is seen: broadcast replies (clients that set the
// broadcast flag, as PXE ROMs and `udhcpc -B` do) and replies addressed to us.
// A unicast reply to another client's MAC is switched past us.
//
// Rate limits (event-budget.ts): at most one report per server (per Ethernet
// source for impersonation) every EVENT_WINDOW_MS, with the count of replies
// since the previous one, and at most EVENTS_PER_WINDOW reports across all
// servers in that window; reports beyond that are counted
// (`dhcp.events_suppressed.<kind>`), not written. The table of servers is
// bounded, so a flood of forged server identifiers cannot grow memory either.

import type { Ipv4, Mac } from '../net/addr.js';
import type { Counters } from '../util/counters.js';
import { MessageType, Opt, type DhcpMessage } from './message.js';
import { ipFromBytes } from '../net/addr.js';
import { EVENT_WINDOW_MS, EventBudget } from './event-budget.js';

/** A rogue server still answering is reported again after this long. */
export const ROGUE_REPEAT_MS = EVENT_WINDOW_MS;
/** Foreign servers remembered at once; the longest unheard is forgotten first. */
const MAX_SERVERS = 64;

export interface ForeignServerReport {
  /** `rogue` in full DHCP mode; `site` in proxyDHCP mode (the expected site server); `impersonation`: our server id from another MAC. */
  kind: 'rogue' | 'site' | 'impersonation';
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
  /** Our interface's MAC: our own replies, if the socket shows them, are not impersonation. */
  serverMac: Mac;
  mode: 'dhcp' | 'proxy';
  now(): number;
  counters: Counters;
  report(report: ForeignServerReport): void;
  /** Shared with the other DHCP events about forgeable traffic; by default one of its own. */
  budget?: EventBudget;
}

interface Seen {
  firstSeen: number;
  reported: boolean;
  sinceReport: number;
}

const REPLY_TYPES: Partial<Record<number, ForeignServerReport['messageType']>> = {
  [MessageType.Offer]: 'offer',
  [MessageType.Ack]: 'ack',
  [MessageType.Nak]: 'nak',
};

export class RogueServerDetector {
  /** Keyed by kind and server id (Ethernet source for impersonation). */
  private readonly servers = new Map<string, Seen>();
  private readonly budget: EventBudget;

  constructor(private readonly opts: RogueDetectorOptions) {
    this.budget = opts.budget ?? new EventBudget();
  }

  /** A DHCP message seen going to port 68 from port 67. */
  seen(msg: DhcpMessage, srcIp: Ipv4, srcMac: Mac): void {
    const typeCode = msg.options.get(Opt.MessageType);
    const messageType = msg.op === 2 && typeCode?.length === 1 ? REPLY_TYPES[typeCode[0]] : undefined;
    if (!messageType) return;
    const id = msg.options.get(Opt.ServerId);
    const serverId = id?.length === 4 ? ipFromBytes(id) : srcIp;
    const ours = serverId === this.opts.serverAddress || srcIp === this.opts.serverAddress;
    if (ours && srcMac === this.opts.serverMac) return;
    const kind: ForeignServerReport['kind'] = ours ? 'impersonation' : this.opts.mode === 'proxy' ? 'site' : 'rogue';
    this.opts.counters.inc(`dhcp.foreign_server.${kind}`);
    const now = this.opts.now();
    const key = `${kind} ${kind === 'impersonation' ? srcMac : serverId}`;
    let seen = this.servers.get(key);
    if (seen) {
      seen.sinceReport++;
      // Most recently heard last, so the first entry is the one to forget.
      this.servers.delete(key);
      this.servers.set(key, seen);
      if (kind === 'site' && seen.reported) return;
    } else {
      if (this.servers.size >= MAX_SERVERS) this.servers.delete(this.servers.keys().next().value as string);
      seen = { firstSeen: now, reported: false, sinceReport: 1 };
      this.servers.set(key, seen);
    }
    const verdict = this.budget.take(key, now);
    if (verdict === 'quiet') return;
    if (verdict === 'over_budget') {
      this.opts.counters.inc(`dhcp.events_suppressed.${kind}`);
      return;
    }
    const replies = seen.sinceReport;
    seen.reported = true;
    seen.sinceReport = 0;
    this.opts.counters.inc(`dhcp.foreign_server_reports.${kind}`);
    this.opts.report({ kind, serverId, mac: srcMac, replies, messageType, yiaddr: msg.yiaddr, firstSeen: seen.firstSeen });
  }
}
