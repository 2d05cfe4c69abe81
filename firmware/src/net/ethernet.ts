// Ethernet II framing (IEEE 802.3 clause 3 with an EtherType) and one IEEE
// 802.1Q VLAN tag. Frames are as a packet socket sees them: no preamble, no FCS.

import { macFromBytes, macToBytes, type Mac } from './addr.js';
import { DecodeError } from './decode-error.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;

export const ETHERNET_HEADER_LENGTH = 14;
const VLAN_TAG_LENGTH = 4;
/** IEEE 802.3 minimum frame (64 bytes) without the 4-byte FCS. */
export const ETHERNET_MIN_FRAME = 60;

const LAYER = 'ethernet';

export interface EthernetFrame {
  dst: Mac;
  src: Mac;
  /**
   * EtherType of the payload (after the VLAN tag, when there is one). Values
   * below 0x0600 are IEEE 802.3 length fields, reported as they are.
   */
  ethertype: number;
  /** 802.1Q VLAN id (0-4095), present when the frame carried a tag. */
  vlan?: number;
  /** 802.1Q priority code point (0-7), present with `vlan`. */
  priority?: number;
  /**
   * Everything after the header; may include Ethernet padding (upper layers trim
   * by their own lengths). A view into the decoded buffer, not a copy.
   */
  payload: Buffer;
}

export function decodeEthernet(frame: Buffer): EthernetFrame {
  if (frame.length < ETHERNET_HEADER_LENGTH) {
    throw new DecodeError(LAYER, frame.length, `frame of ${frame.length} bytes is shorter than the 14-byte header`);
  }
  const dst = macFromBytes(frame, 0);
  const src = macFromBytes(frame, 6);
  let ethertype = frame.readUInt16BE(12);
  let offset = ETHERNET_HEADER_LENGTH;
  let vlan: number | undefined;
  let priority: number | undefined;
  if (ethertype === ETHERTYPE_VLAN) {
    // 802.1Q: TPID 0x8100, then TCI (PCP:3, DEI:1, VID:12), then the real EtherType.
    if (frame.length < ETHERNET_HEADER_LENGTH + VLAN_TAG_LENGTH) {
      throw new DecodeError(LAYER, frame.length, 'VLAN tag truncated');
    }
    const tci = frame.readUInt16BE(14);
    priority = tci >>> 13;
    vlan = tci & 0x0fff;
    ethertype = frame.readUInt16BE(16);
    offset += VLAN_TAG_LENGTH;
  }
  const result: EthernetFrame = { dst, src, ethertype, payload: frame.subarray(offset) };
  if (vlan !== undefined) {
    result.vlan = vlan;
    result.priority = priority;
  }
  return result;
}

/** Builds the frame exactly (no padding to the 60-byte minimum: see frame.ts for wire-ready frames). */
export function encodeEthernet(frame: EthernetFrame): Buffer {
  const tagged = frame.vlan !== undefined;
  if (tagged && (!Number.isInteger(frame.vlan) || frame.vlan! < 0 || frame.vlan! > 0x0fff)) {
    throw new RangeError(`VLAN id out of range: ${frame.vlan}`);
  }
  const priority = frame.priority ?? 0;
  if (!Number.isInteger(priority) || priority < 0 || priority > 7) throw new RangeError(`VLAN priority out of range: ${priority}`);
  checkU16(frame.ethertype, 'ethertype');
  const headerLength = ETHERNET_HEADER_LENGTH + (tagged ? VLAN_TAG_LENGTH : 0);
  const out = Buffer.alloc(headerLength + frame.payload.length);
  macToBytes(frame.dst).copy(out, 0);
  macToBytes(frame.src).copy(out, 6);
  if (tagged) {
    out.writeUInt16BE(ETHERTYPE_VLAN, 12);
    out.writeUInt16BE(((priority << 13) | frame.vlan!) & 0xffff, 14);
    out.writeUInt16BE(frame.ethertype, 16);
  } else {
    out.writeUInt16BE(frame.ethertype, 12);
  }
  frame.payload.copy(out, headerLength);
  return out;
}

/** Pads a frame with zeros to the IEEE 802.3 minimum (what a NIC would put on the wire). */
export function padEthernetFrame(frame: Buffer): Buffer {
  if (frame.length >= ETHERNET_MIN_FRAME) return frame;
  const out = Buffer.alloc(ETHERNET_MIN_FRAME);
  frame.copy(out);
  return out;
}

function checkU16(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${name} out of range: ${value}`);
}
