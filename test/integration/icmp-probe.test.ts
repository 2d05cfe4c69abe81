// icmpEchoProbe over a real raw socket, inside namespaces:
//
//   prober 10.51.0.1 ─┬─ peer 10.51.0.2                 (same segment: a bridge)
//                     └─ peer2 10.51.0.4
//   prober 10.52.0.2 ── router 10.52.0.1 | 10.53.0.1 ── far 10.53.0.2   (relayed subnet)
//
// The probes run in a child process inside `prober`; it must exit by itself once
// every probe has settled, which shows the shared socket is closed when idle.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { icmpEchoProbe } from '../../firmware/src/net/icmp-probe.js';
import { Lab, type Netns } from '../helpers/netns.js';
import { runTsInNs } from '../helpers/ts-in-ns.js';

const PROBE_DRIVER = `
import { icmpEchoProbe } from './firmware/src/net/icmp-probe.js';

const probes = JSON.parse(process.argv[2]!) as Array<[string, number]>;
const results = await Promise.all(
  probes.map(async ([ip, timeoutMs]) => {
    const started = Date.now();
    try {
      return { ip, answered: await icmpEchoProbe(ip, timeoutMs), ms: Date.now() - started };
    } catch (err) {
      return { ip, error: (err as Error).message, code: (err as { code?: string }).code, ms: Date.now() - started };
    }
  }),
);
console.log(JSON.stringify(results));
`;

interface ProbeResult {
  ip: string;
  answered?: boolean;
  error?: string;
  code?: string;
  ms: number;
}

describe('icmpEchoProbe in network namespaces', () => {
  let lab: Lab;
  let prober: Netns;
  let isolated: Netns;

  async function probe(ns: Netns, probes: Array<[string, number]>, wrapper?: string[]): Promise<ProbeResult[]> {
    const { stdout } = await runTsInNs(ns, { source: PROBE_DRIVER, name: 'probe-driver.ts' }, [JSON.stringify(probes)], {
      wrapper,
      timeoutMs: 15_000,
    });
    return JSON.parse(stdout) as ProbeResult[];
  }

  beforeAll(async () => {
    lab = await Lab.create();
    prober = await lab.namespace('prober');
    const peer = await lab.namespace('peer');
    const router = await lab.namespace('router');
    const far = await lab.namespace('far');
    const peer2 = await lab.namespace('peer2');
    isolated = await lab.namespace('isolated');
    await lab.bridge([
      { ns: prober, ifname: 'eth0', address: '10.51.0.1/24' },
      { ns: peer, ifname: 'eth0', address: '10.51.0.2/24' },
      { ns: peer2, ifname: 'eth0', address: '10.51.0.4/24' },
    ]);
    await lab.link(prober, 'eth1', '10.52.0.2/24', router, 'eth0', '10.52.0.1/24');
    await lab.link(router, 'eth1', '10.53.0.1/24', far, 'eth0', '10.53.0.2/24');
    await router.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await prober.exec(['ip', 'route', 'add', '10.53.0.0/24', 'via', '10.52.0.1']);
    await far.exec(['ip', 'route', 'add', 'default', 'via', '10.53.0.1']);
  });

  afterAll(async () => {
    await lab?.destroy();
  });

  it('answers true for hosts that reply and false, after the timeout, for silence', async () => {
    const results = await probe(prober, [
      ['10.51.0.2', 1000], // neighbour
      ['10.51.0.4', 1000], // another neighbour on the bridge
      ['10.51.0.1', 1000], // our own address
      ['10.53.0.2', 1000], // behind a router: where ARP cannot reach
      ['10.51.0.3', 800], // nobody on the segment
      ['10.53.0.3', 800], // nobody on the relayed subnet
    ]);
    const byIp = Object.fromEntries(results.map((r) => [r.ip, r]));
    expect(byIp['10.51.0.2']).toMatchObject({ answered: true });
    expect(byIp['10.51.0.4']).toMatchObject({ answered: true });
    expect(byIp['10.51.0.1']).toMatchObject({ answered: true });
    expect(byIp['10.53.0.2']).toMatchObject({ answered: true });
    expect(byIp['10.51.0.3']).toMatchObject({ answered: false });
    expect(byIp['10.53.0.3']).toMatchObject({ answered: false });
    // Answers come back long before the timeout; silence takes exactly the timeout.
    for (const ip of ['10.51.0.2', '10.51.0.4', '10.51.0.1', '10.53.0.2']) expect(byIp[ip].ms).toBeLessThan(500);
    for (const ip of ['10.51.0.3', '10.53.0.3']) {
      expect(byIp[ip].ms).toBeGreaterThanOrEqual(790);
      expect(byIp[ip].ms).toBeLessThan(1300);
    }
  });

  it('keeps concurrent probes of the same address apart', async () => {
    const results = await probe(
      prober,
      Array.from({ length: 20 }, (): [string, number] => ['10.51.0.2', 2000]),
    );
    expect(results.every((r) => r.answered === true)).toBe(true);
  });

  it('rejects when the probe cannot be sent', async () => {
    const [result] = await probe(isolated, [['10.53.0.2', 500]]); // no route at all
    // eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- vitest types asymmetric matchers as any
    expect(result).toMatchObject({ error: expect.stringMatching(/^ICMP echo to 10\.53\.0\.2 failed: Network is unreachable/) });
  });

  it('explains that it needs CAP_NET_RAW', async () => {
    const [result] = await probe(prober, [['10.51.0.2', 500]], ['setpriv', '--bounding-set=-net_raw', '--']);
    expect(result).toMatchObject({
      code: 'EPERM',
      error:
        'ICMP probing needs CAP_NET_RAW: run as root, or grant the capability ' + '(systemd AmbientCapabilities=CAP_NET_RAW, or setcap cap_net_raw+ep on node)',
    });
  });

  it('rejects bad arguments without opening a socket', async () => {
    await expect(icmpEchoProbe('10.0.0', 100)).rejects.toThrow(/not an IPv4 address/);
    await expect(icmpEchoProbe('10.0.0.1', 0)).rejects.toThrow(/positive number of milliseconds/);
    await expect(icmpEchoProbe('10.0.0.1', Number.NaN)).rejects.toThrow(/positive number of milliseconds/);
  });
});
