// Real DHCP clients (ISC dhclient, busybox udhcpc) against the real rackboot
// bundle, on a bridge in network namespaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { SERVER_IP, readEvents, waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { PacketLinkDriver } from '../helpers/packet-link-driver.js';
import { encodeUdpFrame } from '../../firmware/src/net/frame.js';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { DecodeError } from '../../firmware/src/net/decode-error.js';
import { MessageType, Opt, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import { macToBytes } from '../../firmware/src/net/addr.js';

const STATIC_MAC = '52:54:00:77:00:42';
const MALFORMED_DHCP_SENT = 8;

function discover(mac: string): DhcpMessage {
  const chaddr = Buffer.alloc(16);
  macToBytes(mac).copy(chaddr);
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: 0xbad,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: '',
    file: '',
    options: new Map([[Opt.MessageType, Buffer.from([MessageType.Discover])]]),
  };
}

/** The classic bug classes: truncation, lengths past the end, overload loops, bad hlen, no cookie. */
function malformedDhcpPayloads(valid: Buffer): Buffer[] {
  const withOptions = (options: number[]) => Buffer.concat([valid.subarray(0, 240), Buffer.from(options)]);
  const badHlen = Buffer.from(valid);
  badHlen[2] = 200;
  // Overload into the file field (offset 108, 128 bytes) holding an option longer than the field.
  const overloadedGarbage = withOptions([53, 1, 1, 52, 1, 1, 255]);
  overloadedGarbage.set([12, 200, 0x41, 0x41], 108);
  const payloads = [
    valid.subarray(0, 100), // truncated inside the fixed header
    valid.subarray(0, 239), // cookie cut short
    withOptions([53, 1, 1, 12, 200, 0x41]), // option length past the end
    overloadedGarbage, // overload with an option running past the file field
    withOptions([53, 1, 1, 52, 0, 255]), // overload option of length 0
    badHlen, // hlen > 16
    Buffer.alloc(0), // empty datagram
    Buffer.alloc(1400, 0xff), // all ones
  ];
  if (payloads.length !== MALFORMED_DHCP_SENT) throw new Error('keep MALFORMED_DHCP_SENT in step');
  // Each one must really be malformed, or the counter check in afterAll proves nothing.
  for (const payload of payloads) expect(() => decodeDhcp(payload)).toThrow(DecodeError);
  return payloads;
}

const CONFIG = `
interface: eth0
mode: dhcp
lease_time: 8s
pools:
  - subnet: 10.77.0.0/24
    range: 10.77.0.100-10.77.0.120
options:
  router: 10.77.0.1
  dns: [10.77.0.1]
  domain: rack.test
hosts:
  - mac: ${STATIC_MAC}
    ip: 10.77.0.42
    hostname: node42
boot:
  root: .
`;

describe('DHCP with real clients', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({ yaml: CONFIG }));
  });

  afterAll(async () => {
    const code = await stopRackboot({ lab, server });
    // A clean shutdown is part of the contract (systemd stop must not lose leases).
    expect(code).toBe(0);
    // Every malformed frame sent below was counted, none crashed the server.
    const counters = server.lines.find((l) => l.msg === 'stopped')?.counters as Record<string, number>;
    expect(counters['malformed.dhcp']).toBeGreaterThanOrEqual(MALFORMED_DHCP_SENT);
  });

  it('ISC dhclient obtains, renews and releases a lease', async () => {
    const ns = await lab.client();
    const { script, events } = await lab.clientScript('dhclient', 'dhclient');
    const files = ['-sf', script, '-lf', `${lab.dir}/dhclient.leases`, '-pf', `${lab.dir}/dhclient.pid`];
    ns.spawn(['dhclient', '-4', '-d', '-v', ...files, 'eth0']);
    const bound = await waitForEvent(events, /^BOUND /);
    const [, ip, mask, lease] = bound.split(' ');
    expect(ip).toMatch(/^10\.77\.0\.(1[0-1]\d|120)$/);
    expect(mask).toBe('255.255.255.0');
    expect(lease).toBe('8');
    expect(await ns.exec(['ip', '-4', '-br', 'addr', 'show', 'eth0'])).toContain(ip);
    await server.waitFor((l) => l.msg === 'lease bound' && l.ip === ip);

    // T1 is half the lease: the renewal is a unicast REQUEST from the bound address.
    await waitForEvent(events, /^RENEW /, 15_000);
    await server.waitFor((l) => l.msg === 'lease bound' && l.ip === ip && l !== server.lines.find((x) => x.msg === 'lease bound' && x.ip === ip));

    await ns.exec(['dhclient', '-4', '-r', '-v', ...files, 'eth0']);
    await server.waitFor((l) => l.msg === 'lease released' && l.ip === ip);
    expect(await readEvents(events)).toContain(`RELEASE ${ip}`);
  });

  it('busybox udhcpc obtains, renews (SIGUSR1) and releases (SIGUSR2) a lease', async () => {
    const ns = await lab.client();
    const { script, events } = await lab.clientScript('udhcpc', 'udhcpc');
    const udhcpc = ns.spawn(['udhcpc', '-f', '-i', 'eth0', '-s', script, '-t', '5', '-T', '2']);
    const bound = await waitForEvent(events, /^bound /);
    const ip = bound.split(' ')[1];
    expect(ip).toMatch(/^10\.77\.0\.1\d\d$/);
    const binds = () => server.lines.filter((l) => l.msg === 'lease bound' && l.ip === ip).length;
    await server.waitFor((l) => l.msg === 'lease bound' && l.ip === ip);
    // Pre-seeded before the ACK: the server never has to ARP for a node mid-boot.
    const mac = (await ns.exec(['cat', '/sys/class/net/eth0/address'])).trim();
    expect(await lab.server.exec(['ip', '-4', 'neigh', 'show', ip, 'dev', 'eth0'])).toContain(`lladdr ${mac}`);
    const before = binds();
    udhcpc.kill('SIGUSR1');
    await waitForEvent(events, /^renew /);
    await server.waitFor(() => binds() > before);
    udhcpc.kill('SIGUSR2');
    await server.waitFor((l) => l.msg === 'lease released' && l.ip === ip);
    udhcpc.kill('SIGTERM');
    await once(udhcpc, 'exit');
  });

  it('gives a static host its reserved address and host name', async () => {
    const ns = await lab.client(STATIC_MAC);
    const { script, events } = await lab.clientScript('udhcpc', 'static');
    await ns.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2', '-O', 'hostname']);
    const bound = await waitForEvent(events, /^bound /);
    expect(bound).toContain('bound 10.77.0.42 24');
    expect(bound).toContain('host=node42');
  });

  it('does not offer an address that another host answers ARP for', async () => {
    // A squatter holds every address the pool would hand out next, without a lease.
    const taken = nextFreeAddresses(2);
    const squatter = await lab.client(undefined, `${taken[0]}/24`);
    await squatter.addAddress('eth0', `${taken[1]}/24`);
    const ns = await lab.client();
    const { script, events } = await lab.clientScript('udhcpc', 'conflict');
    await ns.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2']);
    const ip = (await waitForEvent(events, /^bound /)).split(' ')[1];
    expect(taken).not.toContain(ip);
    for (const address of taken) {
      await server.waitFor((l) => l.msg === 'address answered a conflict probe; quarantined' && l.ip === address);
    }
  });

  /** The pool addresses no lease line has mentioned yet, lowest first. */
  function nextFreeAddresses(count: number): string[] {
    const used = new Set(server.lines.filter((l) => l.msg === 'lease bound').map((l) => l.ip));
    const out: string[] = [];
    for (let host = 100; host <= 120 && out.length < count; host++) {
      if (!used.has(`10.77.0.${host}`)) out.push(`10.77.0.${host}`);
    }
    return out;
  }

  it('drops malformed packets, counts them, and keeps serving', async () => {
    const ns = await lab.client('52:54:00:77:0b:ad');
    const driver = await PacketLinkDriver.start(ns);
    await driver.open('eth0', [68]);
    const valid = encodeDhcp(discover('52:54:00:77:0b:ad'));
    for (const payload of malformedDhcpPayloads(valid)) {
      await driver.send(
        encodeUdpFrame({
          srcMac: '52:54:00:77:0b:ad',
          dstMac: 'ff:ff:ff:ff:ff:ff',
          srcIp: '0.0.0.0',
          dstIp: '255.255.255.255',
          srcPort: 68,
          dstPort: 67,
          payload,
        }),
      );
    }
    await driver.stop();
    // Still alive and answering a real client.
    const client = await lab.client();
    const { script, events } = await lab.clientScript('udhcpc', 'after-noise');
    await client.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2']);
    await waitForEvent(events, /^bound /);
  });

  it('answers on the configured server address', () => {
    expect(server.lines.find((l) => l.msg === 'rackboot ready')).toMatchObject({ address: SERVER_IP, mode: 'dhcp' });
  });
});
