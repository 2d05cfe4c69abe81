// power/liveness.ts: what recovery asks before every power-cycle, and the evidence it records.

import { describe, expect, it } from 'vitest';
import { describeEvidence, LIVENESS_ICMP_TIMEOUT_MS, probeLiveness, type LivenessProbes } from '../../firmware/src/power/liveness.js';

const MAC = '52:54:00:00:00:01';

function probes(overrides: Partial<LivenessProbes> = {}): LivenessProbes & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    addressOf: () => '10.0.0.11',
    isConnected: (ip) => ip.startsWith('10.0.0.'),
    arp: (ip) => (asked.push(`arp ${ip}`), Promise.resolve(false)),
    icmp: (ip, timeoutMs) => (asked.push(`icmp ${ip} ${timeoutMs}`), Promise.resolve(false)),
    ...overrides,
  };
}

describe('probeLiveness', () => {
  it('probes the last known address with ARP and ICMP; silence is evidence of a node that is down', async () => {
    const p = probes();
    const evidence = await probeLiveness(MAC, p);
    expect(p.asked).toEqual(['arp 10.0.0.11', `icmp 10.0.0.11 ${LIVENESS_ICMP_TIMEOUT_MS}`]);
    expect(evidence).toEqual({
      address: '10.0.0.11',
      answered: false,
      probes: [
        { method: 'arp', sent: 2, answered: false },
        { method: 'icmp', sent: 2, answered: false },
      ],
    });
    expect(describeEvidence(evidence)).toBe('no answer from 10.0.0.11 to 2 ARP, 2 ICMP');
  });

  it('a node that answers either probe is up', async () => {
    const arpOnly = await probeLiveness(MAC, probes({ arp: () => Promise.resolve(true) }));
    expect(arpOnly.answered).toBe(true);
    expect(describeEvidence(arpOnly)).toBe('10.0.0.11 answered ARP');
    // A host that drops ICMP still answers ARP, and a firewall that drops ARP replies to probes still lets pings through.
    const icmpOnly = await probeLiveness(MAC, probes({ icmp: () => Promise.resolve(true) }));
    expect(icmpOnly.answered).toBe(true);
    expect(describeEvidence(icmpOnly)).toBe('10.0.0.11 answered ICMP');
  });

  it('beyond our own subnets only ICMP is tried; a probe that cannot be sent counts as no answer, with the reason', async () => {
    const p = probes({ addressOf: () => '192.168.7.5', icmp: () => Promise.reject(new Error('ICMP probing needs CAP_NET_RAW')) });
    const evidence = await probeLiveness(MAC, p);
    expect(p.asked).toEqual([]);
    expect(evidence).toEqual({
      address: '192.168.7.5',
      answered: false,
      probes: [{ method: 'icmp', sent: 0, answered: false, error: 'ICMP probing needs CAP_NET_RAW' }],
    });
    expect(describeEvidence(evidence)).toBe('no answer from 192.168.7.5 to 0 ICMP (ICMP probing needs CAP_NET_RAW)');
  });

  it('with no address known nothing is probed, and the evidence says so', async () => {
    const p = probes({ addressOf: () => undefined });
    const evidence = await probeLiveness(MAC, p);
    expect(p.asked).toEqual([]);
    expect(evidence).toEqual({ probes: [], answered: false });
    expect(describeEvidence(evidence)).toBe('no address known to probe');
  });
});
