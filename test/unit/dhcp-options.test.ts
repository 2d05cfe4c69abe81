// Typed option readers and builders, against real client options (captures and
// the hand-written firmware DISCOVERs) and hand-built edge cases.
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DecodeError } from '../../firmware/src/net/decode-error.js';
import { ETHERTYPE_IPV4, decodeEthernet } from '../../firmware/src/net/ethernet.js';
import { decodeUdpFrame } from '../../firmware/src/net/frame.js';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { MessageType, Opt, type DhcpMessage, type DhcpOptions } from '../../firmware/src/dhcp/message.js';
import {
  IpxeSubOpt,
  PxeDiscovery,
  clientArch,
  clientId,
  clientNdi,
  clientUuid,
  clientUuidOption,
  decodeEncapsulated,
  encapsulatedOption,
  guidFromString,
  guidToString,
  hostname,
  ipListOption,
  ipOption,
  ipxe,
  leaseTime,
  maxMessageSize,
  messageType,
  messageTypeOption,
  orderByParameterRequestList,
  parameterRequestList,
  pxeBootFromFileOptions,
  pxeOptions,
  pxeVendorOption,
  relayAgentInfo,
  requestedIp,
  serverId,
  stringOption,
  u16Option,
  u32Option,
  u8Option,
  userClass,
  vendorClass,
  vendorSpecific,
  vendorSpecificSubOptions,
} from '../../firmware/src/dhcp/options.js';
import { readPcapFile } from '../helpers/pcap.js';
import { IPXE_ENCAP_175, IPXE_PRL, IPXE_UUID, PXE_BIOS_PRL, PXE_BIOS_UUID, ipxeDiscover, pxeBiosDiscover } from '../fixtures/dhcp/firmware.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/dhcp/', import.meta.url));

function messages(name: string): DhcpMessage[] {
  return readPcapFile(`${FIXTURES}${name}.pcap`)
    .filter((frame) => decodeEthernet(frame).ethertype === ETHERTYPE_IPV4)
    .map((frame) => decodeDhcp(decodeUdpFrame(frame).udp.payload));
}

const opts = (entries: [number, Buffer | string][]): DhcpOptions =>
  new Map(entries.map(([code, value]) => [code, typeof value === 'string' ? Buffer.from(value.replace(/\s+/g, ''), 'hex') : value]));

function expectOptionError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof DecodeError)) throw new Error(`expected a DecodeError, got ${String(error)}`, { cause: error });
    expect(error.layer).toBe('dhcp-option');
    return error;
  }
  throw new Error('expected a DecodeError');
}

describe('builders', () => {
  it('encode addresses, integers and strings in network order', () => {
    expect(ipOption('10.9.0.1')).toEqual(Buffer.from([10, 9, 0, 1]));
    expect(ipListOption(['10.0.0.1', '10.0.0.2'])).toEqual(Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]));
    expect(ipListOption([])).toEqual(Buffer.alloc(0));
    expect(u8Option(200)).toEqual(Buffer.from([200]));
    expect(u16Option(1500)).toEqual(Buffer.from([0x05, 0xdc]));
    expect(u32Option(0xffffffff)).toEqual(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    expect(stringOption('undionly.kpxe')).toEqual(Buffer.from('undionly.kpxe'));
    expect(messageTypeOption(MessageType.Ack)).toEqual(Buffer.from([5]));
  });

  it('refuse values that do not fit', () => {
    expect(() => u8Option(256)).toThrow(RangeError);
    expect(() => u16Option(-1)).toThrow(RangeError);
    expect(() => u32Option(2 ** 32)).toThrow(RangeError);
    expect(() => u32Option(1.5)).toThrow(RangeError);
    expect(() => ipOption('10.0.0')).toThrow(RangeError);
  });

  it('encapsulate sub-options in order, split long ones, and optionally end with 255', () => {
    const subs = new Map([
      [6, Buffer.from([8])],
      [1, Buffer.from('ab')],
    ]);
    expect(encapsulatedOption(subs)).toEqual(Buffer.from('060108' + '01026162', 'hex'));
    expect(encapsulatedOption(subs, { terminate: true })).toEqual(Buffer.from('060108' + '01026162' + 'ff', 'hex'));
    const long = encapsulatedOption([[9, Buffer.alloc(300, 1)]]);
    expect(long.length).toBe(2 + 255 + 2 + 45);
    expect(decodeEncapsulated(long, 43).get(9)).toEqual(Buffer.alloc(300, 1));
    expect(() => encapsulatedOption([[0, Buffer.alloc(1)]])).toThrow(RangeError);
    expect(() => encapsulatedOption([[255, Buffer.alloc(1)]])).toThrow(RangeError);
  });

  it('decode encapsulated sub-options: pads skipped, End stops, repeats joined, truncation rejected', () => {
    const subs = decodeEncapsulated(Buffer.from('00 0101aa 0201bb 0101cc ff 0301dd'.replace(/\s+/g, ''), 'hex'), 43);
    expect([...subs.entries()]).toEqual([
      [1, Buffer.from([0xaa, 0xcc])],
      [2, Buffer.from([0xbb])],
    ]);
    expect(expectOptionError(() => decodeEncapsulated(Buffer.from('0105aabb', 'hex'), 82)).reason).toMatch(/option 82/);
    expectOptionError(() => decodeEncapsulated(Buffer.from('0101aa02', 'hex'), 175));
  });
});

describe('readers on real client options', () => {
  const dhclient = messages('dhclient');
  const udhcpc = messages('udhcpc');
  const pxeLike = messages('udhcpc-pxe');
  const perf = messages('perfdhcp');

  it('message type, server id, requested address, lease time', () => {
    expect(dhclient.map((m) => messageType(m.options))).toEqual([MessageType.Discover, MessageType.Offer, MessageType.Request, MessageType.Ack]);
    expect(serverId(dhclient[1].options)).toBe('10.77.0.1');
    expect(requestedIp(dhclient[2].options)).toBe('10.77.0.100');
    expect(serverId(dhclient[2].options)).toBe('10.77.0.1');
    expect(leaseTime(dhclient[3].options)).toBe(3600);
    expect(requestedIp(dhclient[0].options)).toBeUndefined();
  });

  it('parameter request list, max message size, client id, vendor class, hostname', () => {
    expect(parameterRequestList(dhclient[0].options)).toEqual([1, 28, 2, 3, 15, 6, 119, 12, 26, 42]);
    expect(maxMessageSize(udhcpc[0].options)).toBe(576);
    expect(maxMessageSize(dhclient[0].options)).toBeUndefined();
    expect(clientId(udhcpc[0].options)).toEqual(Buffer.from('01525400770002', 'hex'));
    expect(clientId(perf[0].options)).toEqual(Buffer.from('01525400771000', 'hex'));
    expect(vendorClass(udhcpc[0].options)).toMatch(/^udhcp /);
    expect(hostname(udhcpc[0].options)).toBe('rackboot-udhcpc');
    expect(hostname(dhclient[3].options)).toBe('rackboot-capture'); // echoed by dnsmasq
  });

  it('PXE client options: arch, NDI, GUID', () => {
    const discover = pxeLike[0];
    expect(vendorClass(discover.options)).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(clientArch(discover.options)).toEqual([0]);
    expect(clientNdi(discover.options)).toEqual({ type: 1, major: 2, minor: 1 });
    expect(clientUuid(discover.options)).toBe('4c4c4544-004a-1080-8058-b7c04f504d32');
    expect(clientUuid(pxeLike[1].options)).toBe('4c4c4544-004a-1080-8058-b7c04f504d32'); // echoed by dnsmasq
  });

  it("dnsmasq's PXE vendor options (43): discovery control, boot servers, menu, prompt", () => {
    const offer = pxeLike[1];
    expect(vendorSpecific(offer.options)!.at(-1)).toBe(255);
    expect([...vendorSpecificSubOptions(offer.options)!.keys()]).toEqual([6, 8, 9, 10]);
    const pxe = pxeOptions(offer.options)!;
    expect(pxe).toEqual({
      discoveryControl: PxeDiscovery.NoBroadcast | PxeDiscovery.NoMulticast,
      bootServers: [{ type: 0x8000, ips: ['10.77.0.1'] }],
      bootMenu: [
        { type: 0x8000, description: 'Boot from network' },
        { type: 0, description: 'Boot from local disk' },
      ],
      menuPrompt: { timeout: 1, prompt: 'rackboot capture' },
    });
    // The builder writes the same bytes dnsmasq wrote.
    expect(pxeVendorOption(pxe)).toEqual(vendorSpecific(offer.options));
    expect(pxeOptions(dhclient[1].options)).toBeUndefined();
  });

  it('the BIOS PXE ROM DISCOVER', () => {
    const { options } = decodeDhcp(pxeBiosDiscover);
    expect(messageType(options)).toBe(MessageType.Discover);
    expect(maxMessageSize(options)).toBe(1260);
    expect(parameterRequestList(options)).toEqual(PXE_BIOS_PRL);
    expect(clientArch(options)).toEqual([0]);
    expect(clientNdi(options)).toEqual({ type: 1, major: 2, minor: 1 });
    expect(clientUuid(options)).toBe(PXE_BIOS_UUID);
    expect(userClass(options)).toBeUndefined();
    expect(ipxe(options)).toBeUndefined();
  });

  it('the iPXE DISCOVER: bare user class, 175 features and bus id', () => {
    const { options } = decodeDhcp(ipxeDiscover);
    expect(userClass(options)).toEqual(['iPXE']);
    expect(parameterRequestList(options)).toEqual(IPXE_PRL);
    expect(maxMessageSize(options)).toBe(1472);
    expect(clientUuid(options)).toBe(IPXE_UUID);
    expect(clientId(options)).toEqual(Buffer.from('01525400123456', 'hex'));
    const features = ipxe(options)!;
    expect([...features.keys()][0]).toBe(IpxeSubOpt.BusId);
    expect(features.get(IpxeSubOpt.BusId)).toEqual(Buffer.from('018086100e', 'hex'));
    expect([...features.get(IpxeSubOpt.Version)!]).toEqual([1, 21, 1]);
    expect(features.get(IpxeSubOpt.FeatureHttp)).toEqual(Buffer.from([1]));
    expect(features.get(IpxeSubOpt.FeaturePxeExt)).toEqual(Buffer.from([2]));
    expect(features.has(IpxeSubOpt.FeatureHttps)).toBe(false);
    expect(encapsulatedOption(features)).toEqual(IPXE_ENCAP_175);
  });
});

describe('readers on edge cases', () => {
  it('return undefined for absent options', () => {
    const empty: DhcpOptions = new Map();
    for (const read of [
      messageType,
      requestedIp,
      serverId,
      leaseTime,
      parameterRequestList,
      maxMessageSize,
      clientId,
      vendorClass,
      hostname,
      userClass,
      clientArch,
      clientNdi,
      clientUuid,
      vendorSpecific,
      vendorSpecificSubOptions,
      relayAgentInfo,
      ipxe,
      pxeOptions,
    ]) {
      expect(read(empty)).toBeUndefined();
    }
  });

  it('throw DecodeError for options of the wrong shape', () => {
    expectOptionError(() => messageType(opts([[Opt.MessageType, '0101']])));
    expectOptionError(() => messageType(opts([[Opt.MessageType, '']])));
    expectOptionError(() => requestedIp(opts([[Opt.RequestedIp, '0a0000']])));
    expectOptionError(() => serverId(opts([[Opt.ServerId, '0a00000102']])));
    expectOptionError(() => leaseTime(opts([[Opt.LeaseTime, '0e10']])));
    expectOptionError(() => maxMessageSize(opts([[Opt.MaxMessageSize, '05']])));
    expectOptionError(() => clientId(opts([[Opt.ClientId, '']])));
    expectOptionError(() => clientArch(opts([[Opt.ClientArch, '000700']])));
    expectOptionError(() => clientArch(opts([[Opt.ClientArch, '']])));
    expectOptionError(() => clientNdi(opts([[Opt.ClientNdi, '0102']])));
    expectOptionError(() => clientUuid(opts([[Opt.ClientUuid, '01' + '00'.repeat(16)]])));
    expectOptionError(() => clientUuid(opts([[Opt.ClientUuid, '00' + '00'.repeat(15)]])));
    expectOptionError(() => userClass(opts([[Opt.UserClass, '']])));
    expectOptionError(() => relayAgentInfo(opts([[Opt.RelayAgentInfo, '0109aa']])));
    expectOptionError(() => ipxe(opts([[Opt.Ipxe, 'b105018086']])));
  });

  it('reads several architectures (RFC 4578 2.1) and strips NULs from hostnames', () => {
    expect(clientArch(opts([[Opt.ClientArch, '00070006']]))).toEqual([7, 6]);
    expect(hostname(opts([[Opt.HostName, Buffer.from('node7\0\0')]]))).toBe('node7');
  });

  it('reads RFC 3004 user class lists, and bare strings that are not lists', () => {
    expect(userClass(opts([[Opt.UserClass, Buffer.from('\x04iPXE\x07rackbt1')]]))).toEqual(['iPXE', 'rackbt1']);
    expect(userClass(opts([[Opt.UserClass, Buffer.from('iPXE')]]))).toEqual(['iPXE']);
    expect(userClass(opts([[Opt.UserClass, Buffer.from('\x00abc')]]))).toEqual(['\x00abc']); // 0-length item: not a list
    expect(userClass(opts([[Opt.UserClass, Buffer.from('\x05abc')]]))).toEqual(['\x05abc']); // overruns: not a list
  });

  it('reads relay agent information (RFC 3046) sub-options', () => {
    const info = relayAgentInfo(opts([[Opt.RelayAgentInfo, '0106 000400010017' + '0206 001122334455' + '0902 abcd']]))!;
    expect(info.circuitId).toEqual(Buffer.from('000400010017', 'hex'));
    expect(info.remoteId).toEqual(Buffer.from('001122334455', 'hex'));
    expect([...info.subOptions.keys()]).toEqual([1, 2, 9]);
    expect(relayAgentInfo(opts([[Opt.RelayAgentInfo, '0902abcd']]))).toEqual({ subOptions: new Map([[9, Buffer.from('abcd', 'hex')]]) });
  });

  it('rejects malformed PXE sub-options', () => {
    const pxe = (hex: string): DhcpOptions => opts([[Opt.VendorSpecific, hex]]);
    expectOptionError(() => pxeOptions(pxe('06020808')));
    expectOptionError(() => pxeOptions(pxe('0804 8000 02 0a')));
    expectOptionError(() => pxeOptions(pxe('0902 8000')));
    expectOptionError(() => pxeOptions(pxe('0904 8000 05 41')));
    expectOptionError(() => pxeOptions(pxe('0a00')));
    expectOptionError(() => pxeOptions(pxe('4703 800000')));
    expectOptionError(() => pxeOptions(pxe('0702 e000')));
    expect(pxeOptions(pxe('0601 08 4704 8000 0000 0c02 abcd ff'))).toEqual({
      discoveryControl: 8,
      bootItem: { type: 0x8000, layer: 0 },
      other: new Map([[12, Buffer.from('abcd', 'hex')]]),
    });
  });
});

describe('UUIDs (RFC 4578 2.3, EFI GUID byte order)', () => {
  it('formats and parses GUIDs with the first three fields little-endian', () => {
    const bytes = Buffer.from('33221100554477668899aabbccddeeff', 'hex');
    expect(guidToString(bytes)).toBe('00112233-4455-6677-8899-aabbccddeeff');
    expect(guidFromString('00112233-4455-6677-8899-AABBCCDDEEFF')).toEqual(bytes);
    expect(clientUuid(new Map([[Opt.ClientUuid, clientUuidOption(PXE_BIOS_UUID)]]))).toBe(PXE_BIOS_UUID);
    expect(() => guidFromString('not-a-uuid')).toThrow(RangeError);
    expect(() => guidToString(Buffer.alloc(15))).toThrow(RangeError);
  });
});

describe('PXE reply builders', () => {
  it('build 43 from a spec and read it back', () => {
    const spec = {
      discoveryControl: PxeDiscovery.UseBootFile | PxeDiscovery.NoMulticast,
      multicastAddress: '224.0.1.2',
      bootServers: [{ type: 0x8000, ips: ['10.0.0.1', '10.0.0.2'] }],
      bootMenu: [{ type: 0x8000, description: 'rackboot' }],
      menuPrompt: { timeout: 0, prompt: 'Press F8' },
      bootItem: { type: 0x8000, layer: 0 },
    };
    const raw = pxeVendorOption(spec);
    expect(raw[0]).toBe(6);
    expect(raw.at(-1)).toBe(255);
    expect(pxeOptions(new Map([[Opt.VendorSpecific, raw]]))).toEqual(spec);
  });

  it('the minimal "boot this file" set: PXEClient, discovery control 8, UUID echoed', () => {
    const uuid = clientUuidOption(PXE_BIOS_UUID);
    const options = pxeBootFromFileOptions({ clientUuid: uuid });
    expect([...options.keys()]).toEqual([Opt.VendorClass, Opt.VendorSpecific, Opt.ClientUuid]);
    expect(vendorClass(options)).toBe('PXEClient');
    expect(options.get(Opt.VendorSpecific)).toEqual(Buffer.from('060108ff', 'hex'));
    expect(options.get(Opt.ClientUuid)).toBe(uuid);
    const ack = pxeBootFromFileOptions({ bootItem: { type: 0x8000, layer: 0 } });
    expect(ack.get(Opt.VendorSpecific)).toEqual(Buffer.from('060108' + '470480000000' + 'ff', 'hex'));
    expect(ack.has(Opt.ClientUuid)).toBe(false);
  });
});

describe('orderByParameterRequestList', () => {
  const value = (code: number): Buffer => Buffer.from([code]);
  const build = (codes: number[]): DhcpOptions => new Map(codes.map((code) => [code, value(code)]));

  it('puts 53, then 54, then the PRL order, then the rest in insertion order, and 82 last', () => {
    const options = build([Opt.RelayAgentInfo, Opt.LeaseTime, Opt.SubnetMask, Opt.ServerId, Opt.Router, Opt.MessageType, Opt.DnsServers, 200]);
    const ordered = orderByParameterRequestList(options, [Opt.DnsServers, Opt.MessageType, 250, Opt.Router, Opt.DnsServers, Opt.RelayAgentInfo]);
    expect([...ordered.keys()]).toEqual([Opt.MessageType, Opt.ServerId, Opt.DnsServers, Opt.Router, Opt.LeaseTime, Opt.SubnetMask, 200, Opt.RelayAgentInfo]);
    for (const [code, v] of ordered) expect(v).toBe(options.get(code));
    expect([...options.keys()][0]).toBe(Opt.RelayAgentInfo); // the input is left alone
  });

  it('works without 53/54 and with an empty list', () => {
    expect([...orderByParameterRequestList(build([3, 1]), []).keys()]).toEqual([3, 1]);
    expect([...orderByParameterRequestList(build([3, 1, 6]), [6, 1]).keys()]).toEqual([6, 1, 3]);
  });

  it('orders a real reply for the iPXE request list and survives the codec', () => {
    const reply = build([Opt.MessageType, Opt.ServerId, Opt.LeaseTime, Opt.SubnetMask, Opt.Router, Opt.DnsServers, Opt.BootfileName, Opt.VendorClass]);
    const ordered = orderByParameterRequestList(reply, parameterRequestList(decodeDhcp(ipxeDiscover).options)!);
    expect([...ordered.keys()]).toEqual([53, 54, 1, 3, 6, 60, 67, 51]);
    const msg: DhcpMessage = { ...decodeDhcp(ipxeDiscover), op: 2, options: ordered };
    expect([...decodeDhcp(encodeDhcp(msg)).options.keys()]).toEqual([53, 54, 1, 3, 6, 60, 67, 51]);
  });
});
