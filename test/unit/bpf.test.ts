import { describe, expect, it } from 'vitest';
import {
  assemble,
  bpfForDhcpAndArp,
  jeq,
  label,
  ldh,
  PACKET_BROADCAST,
  PACKET_HOST,
  PACKET_OTHERHOST,
  ret,
  stmt,
  BPF_ALU,
  BPF_ADD,
  BPF_K,
  BPF_LD,
  BPF_IMM,
  BPF_RET,
  BPF_A,
  type BpfInstruction,
} from '../../firmware/src/net/bpf.js';
import { runBpf } from '../helpers/bpf-interpreter.js';

// --- hand-built frames -------------------------------------------------------

const CLIENT_MAC = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];

function ethernet(etherType: number, payload: Buffer, dst = BROADCAST): Buffer {
  const header = Buffer.alloc(14);
  Buffer.from(dst).copy(header, 0);
  Buffer.from(CLIENT_MAC).copy(header, 6);
  header.writeUInt16BE(etherType, 12);
  return Buffer.concat([header, payload]);
}

interface Ipv4Fields {
  protocol: number;
  payload: Buffer;
  options?: Buffer;
  fragmentOffset?: number; // in 8-byte units
  moreFragments?: boolean;
}

function ipv4({ protocol, payload, options = Buffer.alloc(0), fragmentOffset = 0, moreFragments = false }: Ipv4Fields): Buffer {
  const headerLength = 20 + options.length;
  const header = Buffer.alloc(20);
  header[0] = 0x40 | (headerLength / 4);
  header.writeUInt16BE(headerLength + payload.length, 2);
  header.writeUInt16BE((moreFragments ? 0x2000 : 0) | fragmentOffset, 6);
  header[8] = 64;
  header[9] = protocol;
  Buffer.from([0, 0, 0, 0]).copy(header, 12); // 0.0.0.0 -> 255.255.255.255, as a DHCPDISCOVER
  Buffer.from([255, 255, 255, 255]).copy(header, 16);
  return Buffer.concat([header, options, payload]);
}

function udp(sourcePort: number, destinationPort: number, body = Buffer.alloc(8)): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(sourcePort, 0);
  header.writeUInt16BE(destinationPort, 2);
  header.writeUInt16BE(8 + body.length, 4);
  return Buffer.concat([header, body]);
}

function tcp(sourcePort: number, destinationPort: number): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(sourcePort, 0);
  header.writeUInt16BE(destinationPort, 2);
  header[12] = 5 << 4;
  return header;
}

const arpRequest = ethernet(0x0806, Buffer.from([0, 1, 8, 0, 6, 4, 0, 1, ...CLIENT_MAC, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]));
const dhcpDiscover = ethernet(0x0800, ipv4({ protocol: 17, payload: udp(68, 67, Buffer.alloc(300)) }));
const proxyDhcp = ethernet(0x0800, ipv4({ protocol: 17, payload: udp(68, 4011, Buffer.alloc(300)) }));
const dnsQuery = ethernet(0x0800, ipv4({ protocol: 17, payload: udp(40000, 53) }));
const dhcpToClient = ethernet(0x0800, ipv4({ protocol: 17, payload: udp(67, 68) }));
const tcpToPort67 = ethernet(0x0800, ipv4({ protocol: 6, payload: tcp(40000, 67) }));
const icmpEcho = ethernet(0x0800, ipv4({ protocol: 1, payload: Buffer.from([8, 0, 0, 0, 0, 1, 0, 1]) }));
/** IPv6 UDP to 67: the same port, the wrong protocol family. */
const ipv6Udp67 = ethernet(
  0x86dd,
  (() => {
    const header = Buffer.alloc(40);
    header[0] = 0x60;
    header.writeUInt16BE(8, 4);
    header[6] = 17;
    return Buffer.concat([header, udp(546, 67)]);
  })(),
);
/** 4 bytes of IP options (NOP x3 + EOL): the UDP header moves 4 bytes along. */
const withOptions67 = ethernet(0x0800, ipv4({ protocol: 17, options: Buffer.from([1, 1, 1, 0]), payload: udp(68, 67) }));
/** With options, port 67 sits where a no-options parser would read the source port. */
const withOptions53 = ethernet(0x0800, ipv4({ protocol: 17, options: Buffer.from([0, 67, 0, 67]), payload: udp(40000, 53) }));
const firstFragment67 = ethernet(0x0800, ipv4({ protocol: 17, moreFragments: true, payload: udp(68, 67, Buffer.alloc(600)) }));
/** A later fragment whose data happens to look like a UDP header to port 67. */
const laterFragment = ethernet(0x0800, ipv4({ protocol: 17, fragmentOffset: 76, payload: udp(68, 67) }));
const vlanInBand = (() => {
  const tagged = Buffer.concat([dhcpDiscover.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x0a]), dhcpDiscover.subarray(12)]);
  return tagged;
})();
const truncatedIp = dhcpDiscover.subarray(0, 14 + 20 + 1); // UDP header cut off

const filter = bpfForDhcpAndArp({ udpPorts: [67, 4011] });
const accepts = (frame: Buffer, meta = {}) => runBpf(filter, frame, meta) > 0;

// --- rackboot's filter ---------------------------------------------------------

describe('bpfForDhcpAndArp', () => {
  it('accepts ARP and IPv4 UDP to the listed ports, keeping the whole frame', () => {
    expect(runBpf(filter, arpRequest)).toBe(arpRequest.length);
    expect(runBpf(filter, dhcpDiscover)).toBe(dhcpDiscover.length);
    expect(runBpf(filter, proxyDhcp)).toBe(proxyDhcp.length);
  });

  it('drops UDP to other ports, TCP, ICMP and IPv6', () => {
    expect(accepts(dnsQuery)).toBe(false);
    expect(accepts(dhcpToClient)).toBe(false);
    expect(accepts(tcpToPort67)).toBe(false);
    expect(accepts(icmpEcho)).toBe(false);
    expect(accepts(ipv6Udp67)).toBe(false);
  });

  it('finds the UDP header after IP options', () => {
    expect(accepts(withOptions67)).toBe(true);
    expect(accepts(withOptions53)).toBe(false);
  });

  it('accepts a first fragment (it carries the UDP header) but no later fragment', () => {
    expect(accepts(firstFragment67)).toBe(true);
    expect(accepts(laterFragment)).toBe(false);
  });

  it('drops frames of other VLANs and unicast for other stations', () => {
    expect(accepts(dhcpDiscover, { vlanTagPresent: true })).toBe(false);
    expect(accepts(arpRequest, { vlanTagPresent: true })).toBe(false);
    expect(accepts(vlanInBand)).toBe(false);
    expect(accepts(dhcpDiscover, { pktType: PACKET_OTHERHOST })).toBe(false);
    expect(accepts(dhcpDiscover, { pktType: PACKET_BROADCAST })).toBe(true);
    expect(accepts(dhcpDiscover, { pktType: PACKET_HOST })).toBe(true);
  });

  it('drops frames too short to hold the headers it reads', () => {
    expect(accepts(truncatedIp)).toBe(false);
    expect(accepts(Buffer.alloc(10))).toBe(false);
  });

  it('agrees with tcpdump on IPv4 and ARP frames', () => {
    // `tcpdump -y EN10MB -dd 'arp or (udp dst port 67)'` (libpcap 1.10): an
    // independent compiler, so this also checks the interpreter.
    const tcpdump: BpfInstruction[] = [
      [0x28, 0, 0, 0x0c],
      [0x15, 13, 0, 0x0806],
      [0x15, 0, 4, 0x86dd],
      [0x30, 0, 0, 0x14],
      [0x15, 0, 11, 0x11],
      [0x28, 0, 0, 0x38],
      [0x15, 8, 9, 0x43],
      [0x15, 0, 8, 0x0800],
      [0x30, 0, 0, 0x17],
      [0x15, 0, 6, 0x11],
      [0x28, 0, 0, 0x14],
      [0x45, 4, 0, 0x1fff],
      [0xb1, 0, 0, 0x0e],
      [0x48, 0, 0, 0x10],
      [0x15, 0, 1, 0x43],
      [0x06, 0, 0, 0x40000],
      [0x06, 0, 0, 0],
    ].map(([code, jt, jf, k]) => ({ code, jt, jf, k }));
    const only67 = bpfForDhcpAndArp({ udpPorts: [67] });
    const frames = [
      arpRequest,
      dhcpDiscover,
      proxyDhcp,
      dnsQuery,
      dhcpToClient,
      tcpToPort67,
      icmpEcho,
      withOptions67,
      withOptions53,
      firstFragment67,
      laterFragment,
      vlanInBand,
      truncatedIp,
    ];
    for (const frame of frames) {
      expect(runBpf(only67, frame) > 0, frame.toString('hex')).toBe(runBpf(tcpdump, frame) > 0);
    }
    // Where they differ, on purpose: tcpdump's "udp" includes IPv6.
    expect(runBpf(tcpdump, ipv6Udp67)).toBeGreaterThan(0);
    expect(runBpf(only67, ipv6Udp67)).toBe(0);
  });

  it('rejects port lists it cannot encode', () => {
    expect(() => bpfForDhcpAndArp({ udpPorts: [] })).toThrow(/1 to 200/);
    expect(() => bpfForDhcpAndArp({ udpPorts: [0] })).toThrow(/not a UDP port/);
    expect(() => bpfForDhcpAndArp({ udpPorts: [70000] })).toThrow(/not a UDP port/);
    expect(() => bpfForDhcpAndArp({ udpPorts: Array.from({ length: 201 }, (_, i) => i + 1) })).toThrow(/1 to 200/);
    const many = bpfForDhcpAndArp({ udpPorts: Array.from({ length: 200 }, (_, i) => 1000 + i) });
    expect(runBpf(many, ethernet(0x0800, ipv4({ protocol: 17, payload: udp(1, 1199) })))).toBeGreaterThan(0);
  });
});

// --- assembler and interpreter -------------------------------------------------

describe('assemble', () => {
  it('turns labels into forward offsets and falls through on 0 / next', () => {
    const program = assemble([ldh(12), jeq(0x0806, 'yes', 'next'), jeq(0x0800, 0, 'no'), label('yes'), ret(1), label('no'), ret(0)]);
    expect(program).toEqual([
      { code: 0x28, jt: 0, jf: 0, k: 12 },
      { code: 0x15, jt: 1, jf: 0, k: 0x0806 },
      { code: 0x15, jt: 0, jf: 1, k: 0x0800 },
      { code: 0x06, jt: 0, jf: 0, k: 1 },
      { code: 0x06, jt: 0, jf: 0, k: 0 },
    ]);
  });

  it('rejects unknown, duplicate and backward labels', () => {
    expect(() => assemble([jeq(1, 'nowhere'), ret(0)])).toThrow(/unknown label: nowhere/);
    expect(() => assemble([label('a'), label('a'), ret(0)])).toThrow(/defined twice/);
    expect(() => assemble([label('back'), ret(0), jeq(1, 'back'), ret(0)])).toThrow(/out of range/);
  });

  it('rejects jumps beyond 255 instructions', () => {
    const filler = Array.from({ length: 256 }, () => ret(0));
    expect(() => assemble([jeq(1, 'far'), ...filler, label('far'), ret(1)])).toThrow(/out of range \(256\)/);
  });

  it('stores k as unsigned 32-bit (ancillary offsets are negative)', () => {
    expect(assemble([stmt(BPF_LD | BPF_IMM, -0x1000), ret(0)])[0].k).toBe(0xfffff000);
  });
});

describe('runBpf', () => {
  it('does arithmetic modulo 2^32 and returns A when asked', () => {
    const program = assemble([stmt(BPF_LD | BPF_IMM, 0xffffffff), stmt(BPF_ALU | BPF_ADD | BPF_K, 3), stmt(BPF_RET | BPF_A, 0)]);
    expect(runBpf(program, Buffer.alloc(64))).toBe(2);
  });

  it('caps the kept length at the frame length', () => {
    expect(runBpf([{ code: 0x06, jt: 0, jf: 0, k: 0xffffffff }], Buffer.alloc(60))).toBe(60);
  });

  it('refuses programs that run off their end', () => {
    expect(() => runBpf([{ code: 0x28, jt: 0, jf: 0, k: 12 }], Buffer.alloc(60))).toThrow(/without a ret/);
  });
});
