// Classic BPF (the socket filter the kernel runs before a frame is queued on our
// packet socket): a tiny assembler with labels and the filter rackboot attaches.
// Opcodes follow linux/filter.h and linux/bpf_common.h. The tests run filters on
// hand-built frames with the interpreter in test/helpers/bpf-interpreter.ts.

import type { BpfInstruction } from './native.js';

export type { BpfInstruction } from './native.js';

// Instruction classes, sizes, modes, ALU/jump operations and operand sources.
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_A = 0x10;
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

/**
 * Linux ancillary loads: `ld [SKF_AD_OFF + SKF_AD_x]` reads socket-buffer metadata
 * instead of frame bytes. Offsets from linux/filter.h.
 */
export const SKF_AD_OFF = -0x1000;
export const SKF_AD_PROTOCOL = 0;
export const SKF_AD_PKTTYPE = 4;
export const SKF_AD_IFINDEX = 8;
export const SKF_AD_VLAN_TAG = 44;
export const SKF_AD_VLAN_TAG_PRESENT = 48;

/** skb->pkt_type values (linux/if_packet.h). */
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const IPPROTO_UDP = 17;

/** `ret #ACCEPT_WHOLE_FRAME` keeps every byte (the return value is a snap length). */
export const ACCEPT_WHOLE_FRAME = 0xffffffff;

// ---------------------------------------------------------------------------
// Assembler

/** A jump target: a label name, or 0 / 'next' to fall through. */
export type JumpTarget = string | 0;
export type AsmLine = { insn: { code: number; k: number; jt: JumpTarget; jf: JumpTarget } } | { label: string };

export function stmt(code: number, k: number): AsmLine {
  return { insn: { code, k, jt: 0, jf: 0 } };
}

export function jump(code: number, k: number, jt: JumpTarget, jf: JumpTarget = 0): AsmLine {
  return { insn: { code, k, jt, jf } };
}

export function label(name: string): AsmLine {
  return { label: name };
}

/** `ld [SKF_AD_OFF + field]`: load socket-buffer metadata into A. */
export const ldAncillary = (field: number): AsmLine => stmt(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + field);
export const ldb = (offset: number): AsmLine => stmt(BPF_LD | BPF_B | BPF_ABS, offset);
export const ldh = (offset: number): AsmLine => stmt(BPF_LD | BPF_H | BPF_ABS, offset);
export const ld = (offset: number): AsmLine => stmt(BPF_LD | BPF_W | BPF_ABS, offset);
/** `ldh [x + offset]`. */
export const ldhIndirect = (offset: number): AsmLine => stmt(BPF_LD | BPF_H | BPF_IND, offset);
/** `ldxb 4*([offset]&0xf)`: the IPv4 header length when offset points at the IP header. */
export const ldxIpHeaderLength = (offset: number): AsmLine => stmt(BPF_LDX | BPF_B | BPF_MSH, offset);
export const jeq = (k: number, jt: JumpTarget, jf: JumpTarget = 0): AsmLine => jump(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf);
export const jset = (k: number, jt: JumpTarget, jf: JumpTarget = 0): AsmLine => jump(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf);
export const ret = (k: number): AsmLine => stmt(BPF_RET | BPF_K, k);

/**
 * Resolves labels into relative jump offsets. Classic BPF jumps only forward and at
 * most 255 instructions (jt/jf are 8 bits); anything else is a programming error.
 */
export function assemble(lines: readonly AsmLine[]): BpfInstruction[] {
  const labels = new Map<string, number>();
  let pc = 0;
  for (const line of lines) {
    if ('label' in line) {
      if (labels.has(line.label)) throw new Error(`BPF label defined twice: ${line.label}`);
      labels.set(line.label, pc);
    } else {
      pc++;
    }
  }
  const program: BpfInstruction[] = [];
  const offset = (target: JumpTarget, from: number): number => {
    if (target === 0 || target === 'next') return 0;
    const to = labels.get(target);
    if (to === undefined) throw new Error(`BPF jump to unknown label: ${target}`);
    const distance = to - from - 1;
    if (distance < 0 || distance > 255) throw new Error(`BPF jump to ${target} is out of range (${distance})`);
    return distance;
  };
  for (const line of lines) {
    if ('label' in line) continue;
    const { code, k, jt, jf } = line.insn;
    const at = program.length;
    program.push({ code, jt: offset(jt, at), jf: offset(jf, at), k: k >>> 0 });
  }
  return program;
}

// ---------------------------------------------------------------------------
// rackboot's filter

export interface DhcpArpFilterOptions {
  /** UDP destination ports to accept, e.g. [67, 4011]. */
  udpPorts: readonly number[];
}

/**
 * Accepts ARP, and IPv4 UDP whose destination port is in `udpPorts` (unfragmented or
 * the first fragment, which carries the UDP header). Also drops, whatever they carry:
 * - frames whose 802.1Q tag the NIC or kernel moved into metadata: they belong to
 *   another VLAN, and answering DHCP there would serve the wrong segment;
 * - unicast for another station (PACKET_OTHERHOST), seen only while the interface is
 *   promiscuous (tcpdump, bridge port): they are not addressed to us.
 */
export function bpfForDhcpAndArp({ udpPorts }: DhcpArpFilterOptions): BpfInstruction[] {
  // 200 keeps every port comparison within the 255-instruction jump range.
  if (udpPorts.length === 0 || udpPorts.length > 200) throw new RangeError('udpPorts must list 1 to 200 ports');
  for (const port of udpPorts) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`not a UDP port: ${port}`);
  }
  const ETH_TYPE = 12;
  const IP = 14; // IPv4 header follows the 14-byte Ethernet header
  return assemble([
    ldAncillary(SKF_AD_VLAN_TAG_PRESENT),
    jeq(0, 'next', 'drop'),
    ldAncillary(SKF_AD_PKTTYPE),
    jeq(PACKET_OTHERHOST, 'drop'),
    ldh(ETH_TYPE),
    jeq(ETH_P_ARP, 'accept'),
    jeq(ETH_P_IP, 'next', 'drop'),
    ldb(IP + 9), // protocol
    jeq(IPPROTO_UDP, 'next', 'drop'),
    ldh(IP + 6), // flags and fragment offset
    jset(0x1fff, 'drop'),
    ldxIpHeaderLength(IP),
    ldhIndirect(IP + 2), // UDP destination port
    ...[...new Set(udpPorts)].map((port) => jeq(port, 'accept')),
    label('drop'),
    ret(0),
    label('accept'),
    ret(ACCEPT_WHOLE_FRAME),
  ]);
}
