// A classic BPF interpreter with the kernel's semantics, so that filters built by
// firmware/src/net/bpf.ts can be run on hand-built frames in tests (the kernel runs
// the real thing). Opcodes follow linux/filter.h and linux/bpf_common.h.

import {
  BPF_A,
  BPF_ABS,
  BPF_ADD,
  BPF_ALU,
  BPF_AND,
  BPF_B,
  BPF_DIV,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_JSET,
  BPF_LD,
  BPF_LDX,
  BPF_LEN,
  BPF_LSH,
  BPF_MEM,
  BPF_MISC,
  BPF_MOD,
  BPF_MSH,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RET,
  BPF_RSH,
  BPF_ST,
  BPF_STX,
  BPF_SUB,
  BPF_TAX,
  BPF_TXA,
  BPF_W,
  BPF_X,
  BPF_XOR,
  PACKET_HOST,
  SKF_AD_IFINDEX,
  SKF_AD_OFF,
  SKF_AD_PKTTYPE,
  SKF_AD_PROTOCOL,
  SKF_AD_VLAN_TAG,
  SKF_AD_VLAN_TAG_PRESENT,
  type BpfInstruction,
} from '../../firmware/src/net/bpf.js';

/** Scratch memory words (BPF_MEMWORDS). */
const MEMWORDS = 16;

/** A load past the end of the frame: the kernel drops the frame. */
class OutOfBounds extends Error {}

/** Socket-buffer metadata that ancillary loads read. */
export interface BpfFrameMeta {
  pktType?: number;
  vlanTagPresent?: boolean;
  vlanTci?: number;
  ifindex?: number;
  /** skb->protocol; defaults to the frame's ethertype. */
  protocol?: number;
}

/**
 * Runs `program` on `frame` as the kernel would and returns the number of bytes it
 * keeps (0 = dropped). Out-of-bounds loads and division by zero drop, as in Linux.
 */
export function runBpf(program: readonly BpfInstruction[], frame: Uint8Array, meta: BpfFrameMeta = {}): number {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const mem = new Uint32Array(MEMWORDS);
  let a = 0;
  let x = 0;

  const load = (offset: number, size: number): number => {
    if (offset >= SKF_AD_OFF && offset < 0) {
      if (size !== 4) throw new Error(`ancillary loads are 32-bit (offset ${offset})`);
      return ancillary(offset - SKF_AD_OFF, frame, meta);
    }
    if (offset < 0) throw new Error(`unsupported negative BPF offset ${offset}`);
    if (offset + size > frame.length) throw new OutOfBounds();
    return size === 4 ? view.getUint32(offset) : size === 2 ? view.getUint16(offset) : view.getUint8(offset);
  };
  const sizeOf = (code: number): number => {
    const size = code & 0x18;
    if (size === BPF_W) return 4;
    if (size === BPF_H) return 2;
    if (size === BPF_B) return 1;
    throw new Error(`bad BPF load size in opcode 0x${code.toString(16)}`);
  };

  try {
    for (let pc = 0; pc < program.length; pc++) {
      const { code, jt, jf, k } = program[pc];
      const signedK = k | 0; // offsets may be negative (ancillary)
      switch (code & 0x07) {
        case BPF_LD:
          switch (code & 0xe0) {
            case BPF_IMM:
              a = k;
              break;
            case BPF_ABS:
              a = load(signedK, sizeOf(code));
              break;
            case BPF_IND:
              a = load((x + signedK) | 0, sizeOf(code));
              break;
            case BPF_MEM:
              a = mem[k]!;
              break;
            case BPF_LEN:
              a = frame.length;
              break;
            default:
              throw new Error(`bad BPF ld opcode 0x${code.toString(16)}`);
          }
          break;
        case BPF_LDX:
          switch (code & 0xe0) {
            case BPF_IMM:
              x = k;
              break;
            case BPF_MEM:
              x = mem[k]!;
              break;
            case BPF_LEN:
              x = frame.length;
              break;
            case BPF_MSH:
              x = (load(signedK, 1) & 0x0f) * 4;
              break;
            default:
              throw new Error(`bad BPF ldx opcode 0x${code.toString(16)}`);
          }
          break;
        case BPF_ST:
          mem[k] = a;
          break;
        case BPF_STX:
          mem[k] = x;
          break;
        case BPF_ALU: {
          const operand = (code & BPF_X) !== 0 ? x : k;
          switch (code & 0xf0) {
            case BPF_ADD:
              a = (a + operand) >>> 0;
              break;
            case BPF_SUB:
              a = (a - operand) >>> 0;
              break;
            case BPF_MUL:
              a = Math.imul(a, operand) >>> 0;
              break;
            case BPF_DIV:
              if (operand === 0) return 0;
              a = Math.floor(a / operand) >>> 0;
              break;
            case BPF_MOD:
              if (operand === 0) return 0;
              a = (a % operand) >>> 0;
              break;
            case BPF_OR:
              a = (a | operand) >>> 0;
              break;
            case BPF_AND:
              a = (a & operand) >>> 0;
              break;
            case BPF_XOR:
              a = (a ^ operand) >>> 0;
              break;
            case BPF_LSH:
              a = operand >= 32 ? 0 : (a << operand) >>> 0;
              break;
            case BPF_RSH:
              a = operand >= 32 ? 0 : a >>> operand;
              break;
            case BPF_NEG:
              a = -a >>> 0;
              break;
            default:
              throw new Error(`bad BPF alu opcode 0x${code.toString(16)}`);
          }
          break;
        }
        case BPF_JMP: {
          if ((code & 0xf0) === BPF_JA) {
            pc += k;
            break;
          }
          const operand = (code & BPF_X) !== 0 ? x : k;
          let taken: boolean;
          switch (code & 0xf0) {
            case BPF_JEQ:
              taken = a === operand;
              break;
            case BPF_JGT:
              taken = a > operand;
              break;
            case BPF_JGE:
              taken = a >= operand;
              break;
            case BPF_JSET:
              taken = (a & operand) !== 0;
              break;
            default:
              throw new Error(`bad BPF jmp opcode 0x${code.toString(16)}`);
          }
          pc += taken ? jt : jf;
          break;
        }
        case BPF_RET: {
          const kept = (code & 0x18) === BPF_A ? a : k;
          return Math.min(kept, frame.length);
        }
        case BPF_MISC:
          if ((code & 0xf8) === BPF_TAX) x = a;
          else if ((code & 0xf8) === BPF_TXA) a = x;
          else throw new Error(`bad BPF misc opcode 0x${code.toString(16)}`);
          break;
      }
    }
  } catch (err) {
    if (err instanceof OutOfBounds) return 0;
    throw err;
  }
  throw new Error('BPF program ran off its end without a ret');
}

function ancillary(field: number, frame: Uint8Array, meta: BpfFrameMeta): number {
  switch (field) {
    case SKF_AD_PROTOCOL:
      return meta.protocol ?? (frame.length >= 14 ? (frame[12] << 8) | frame[13] : 0);
    case SKF_AD_PKTTYPE:
      return meta.pktType ?? PACKET_HOST;
    case SKF_AD_IFINDEX:
      return meta.ifindex ?? 0;
    case SKF_AD_VLAN_TAG:
      return meta.vlanTci ?? 0;
    case SKF_AD_VLAN_TAG_PRESENT:
      return meta.vlanTagPresent ? 1 : 0;
    default:
      throw new Error(`unsupported BPF ancillary field ${field}`);
  }
}
