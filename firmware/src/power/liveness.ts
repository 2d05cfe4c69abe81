// Is a node really down? Asked before every automatic recovery power-cycle.
//
// A diagnosis rests on traffic that any host on the boot network can forge
// (DHCP with the node's chaddr, HTTP requests naming its MAC), so it never alone
// leads to a power action: rackboot first probes the node's last known address
// with ARP (on our own segment; the DHCP service's conflict prober, so there is
// one ARP mechanism) and an ICMP echo, both at once. A node that answers either
// is up, and recovery leaves it alone. The probes and their results are the
// evidence recorded in the recovery event, whichever way it went.

import type { Ipv4, Mac } from '../net/addr.js';

/** How long the ICMP echo waits for an answer (two echoes, the second halfway). */
export const LIVENESS_ICMP_TIMEOUT_MS = 1000;

export interface LivenessProbes {
  /** The address the node was last seen with (link, lease, fixed); undefined when none is known. */
  addressOf(mac: Mac): Ipv4 | undefined;
  /** True when `ip` is on a subnet of the serving interface, where ARP reaches. */
  isConnected(ip: Ipv4): boolean;
  /** ARP probe (two requests); true when the address answers. */
  arp(ip: Ipv4): Promise<boolean>;
  /** ICMP echo (two echoes); true when the address answers. */
  icmp(ip: Ipv4, timeoutMs: number): Promise<boolean>;
}

export interface ProbeResult {
  method: 'arp' | 'icmp';
  /** Requests sent: each prober sends two, so one lost frame does not hide a live node. */
  sent: number;
  answered: boolean;
  /** Why the probe could not be sent (no CAP_NET_RAW, no route); it then counts as unanswered. */
  error?: string;
}

/** The evidence a recovery decision rests on; JSON-safe, it goes into the event's detail. */
export interface LivenessEvidence {
  /** The address probed; absent when rackboot knows none for the node (then nothing is probed). */
  address?: Ipv4;
  probes: ProbeResult[];
  /** True when any probe was answered: the node is up. */
  answered: boolean;
}

/** Probes the node's last known address; resolves with the evidence, never rejects. */
export async function probeLiveness(mac: Mac, probes: LivenessProbes): Promise<LivenessEvidence> {
  const address = probes.addressOf(mac);
  if (address === undefined) return { probes: [], answered: false };
  const run = async (method: ProbeResult['method'], probe: () => Promise<boolean>): Promise<ProbeResult> => {
    try {
      return { method, sent: 2, answered: await probe() };
    } catch (error) {
      return { method, sent: 0, answered: false, error: (error as Error).message };
    }
  };
  const results = await Promise.all([
    ...(probes.isConnected(address) ? [run('arp', () => probes.arp(address))] : []),
    run('icmp', () => probes.icmp(address, LIVENESS_ICMP_TIMEOUT_MS)),
  ]);
  return { address, probes: results, answered: results.some((r) => r.answered) };
}

/** The evidence in words, for event messages: "10.0.0.11 answered ARP" / "no answer from 10.0.0.11 to 2 ARP, 2 ICMP". */
export function describeEvidence(evidence: LivenessEvidence): string {
  if (evidence.address === undefined) return 'no address known to probe';
  const answered = evidence.probes.filter((p) => p.answered).map((p) => p.method.toUpperCase());
  if (answered.length > 0) return `${evidence.address} answered ${answered.join(' and ')}`;
  const sent = evidence.probes.map((p) => `${p.sent} ${p.method.toUpperCase()}${p.error ? ` (${p.error})` : ''}`).join(', ');
  return `no answer from ${evidence.address} to ${sent}`;
}
