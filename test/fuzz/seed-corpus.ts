// Writes the seed corpora under test/fuzz/corpus/<target>/ (run: node test/fuzz/run.mjs --write-seeds).
// DHCP seeds are the captured frames in test/fixtures/dhcp/*.pcap (dhclient, udhcpc,
// perfdhcp clients and dnsmasq's answers, see test/fixtures/capture.sh) and the PXE BIOS /
// iPXE DISCOVERs of test/fixtures/dhcp/firmware.ts; relayed variants get giaddr and an
// option 82 as a relay agent adds them. TFTP seeds spell the requests the real clients
// send (tftp-hpa, atftp, busybox, iPXE, PXE ROMs, OVMF: option sets as in
// test/integration/tftp-clients.test.ts and the clients' sources). Config seeds are the
// config fixtures; journal seeds are files written by the real Journal.
// File names are content hashes, so rerunning adds nothing twice.

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcapFile } from '../helpers/pcap.js';
import { decodeUdpFrame } from '../../firmware/src/net/frame.js';
import { decodeDhcp, encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { Opt } from '../../firmware/src/dhcp/message.js';
import { encodeTftp, type TftpPacket } from '../../firmware/src/tftp/codec.js';
import { Journal } from '../../firmware/src/store/journal.js';
import { ipxeDiscover, pxeBiosDiscover } from '../fixtures/dhcp/firmware.js';
import { SPLIT } from './targets/journal-load.js';

let CORPUS = '';
let FIXTURES = '';

function save(target: string, data: Buffer | string): void {
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  const dir = join(CORPUS, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, createHash('sha1').update(bytes).digest('hex').slice(0, 16)), bytes);
}

function dhcpPayloads(): { frames: Buffer[]; payloads: Buffer[] } {
  const frames: Buffer[] = [];
  const payloads: Buffer[] = [];
  const seen = new Set<string>();
  for (const name of ['dhclient', 'udhcpc', 'udhcpc-pxe', 'perfdhcp']) {
    // A few frames per capture: perfdhcp's thousands differ only in xid and MAC.
    for (const frame of readPcapFile(join(FIXTURES, 'dhcp', `${name}.pcap`)).slice(0, 6)) {
      if (frame.readUInt16BE(12) !== 0x0800) {
        frames.push(frame); // ARP: a seed for the frame decoders only
        continue;
      }
      const payload = decodeUdpFrame(frame).udp.payload;
      const key = payload.toString('hex');
      if (seen.has(key)) continue;
      seen.add(key);
      frames.push(frame);
      payloads.push(payload);
    }
  }
  payloads.push(pxeBiosDiscover, ipxeDiscover);
  return { frames, payloads };
}

/** The request as a relay agent forwards it: giaddr, one more hop, option 82 appended (RFC 3046 2.1). */
function relayed(payload: Buffer): Buffer | undefined {
  const msg = decodeDhcp(payload);
  if (msg.op !== 1) return undefined;
  msg.giaddr = '10.20.0.1';
  msg.hops += 1;
  msg.options.set(Opt.RelayAgentInfo, Buffer.from([1, 6, 0x73, 0x77, 0x31, 0x2f, 0x31, 0x37, 2, 6, 0x52, 0x54, 0x00, 0x77, 0x00, 0x01]));
  return encodeDhcp(msg, { maxSize: 1500 });
}

function writeDhcp(): void {
  const { frames, payloads } = dhcpPayloads();
  for (const payload of payloads) save('dhcp-decode', payload);
  for (const frame of frames.slice(0, 8)) save('dhcp-decode', frame);
  for (const payload of payloads) {
    const isRequest = payload[0] === 1;
    if (!isRequest) continue;
    save('dhcp-server', Buffer.concat([Buffer.from([0]), payload]));
    const relay = relayed(payload);
    if (relay) save('dhcp-server', Buffer.concat([Buffer.from([0]), relay]));
  }
  // proxyDHCP on 67 and the PXE boot server on 4011.
  save('dhcp-server', Buffer.concat([Buffer.from([1]), pxeBiosDiscover]));
  save('dhcp-server', Buffer.concat([Buffer.from([1]), ipxeDiscover]));
  save('dhcp-server', Buffer.concat([Buffer.from([3]), pxeBiosDiscover]));
}

const rrq = (filename: string, mode: string, options: [string, string][] = []): Buffer => encodeTftp({ op: 'rrq', filename, mode, options: new Map(options) });

function writeTftp(): void {
  const requests: Buffer[] = [
    rrq('undionly.kpxe', 'octet'), // tftp-hpa `get`, busybox tftp without -b
    rrq('undionly.kpxe', 'octet', [
      ['tsize', '0'],
      ['blksize', '1456'],
    ]), // PXE ROM (tsize probe, then blksize)
    rrq('ipxe.efi', 'octet', [
      ['blksize', '1468'],
      ['tsize', '0'],
      ['windowsize', '4'],
    ]), // OVMF's PXE
    rrq('boot/undionly.kpxe', 'octet', [
      ['blksize', '1432'],
      ['tsize', '0'],
    ]), // iPXE tftp://
    rrq('pxelinux.cfg/01-52-54-00-12-34-56', 'netascii', [
      ['timeout', '5'],
      ['tsize', '0'],
      ['blksize', '512'],
    ]), // atftp --option
    rrq('/pxelinux.0', 'OCTET', [
      ['BLKSIZE', '8'],
      ['multicast', ''],
    ]),
    rrq('../../etc/passwd', 'octet'),
    rrq('boot-evil/x', 'octet'),
  ];
  const others: TftpPacket[] = [
    { op: 'ack', block: 0 },
    { op: 'ack', block: 65535 },
    { op: 'error', code: 8, message: 'TFTP Aborted' },
    { op: 'error', code: 0, message: 'tsize probe' },
    {
      op: 'oack',
      options: new Map([
        ['blksize', '1468'],
        ['tsize', '4096'],
      ]),
    },
    { op: 'data', block: 1, data: Buffer.from('line one\r\nline two\r\0') },
    { op: 'wrq', filename: 'upload', mode: 'octet', options: new Map([['tsize', '100']]) },
  ];
  for (const packet of [...requests, ...others.map((p) => encodeTftp(p))]) save('tftp-packet', packet);

  // tftp-transfer: size, RRQ, then steps (see the target).
  // A packet step: any byte above 0x20, the packet's length, the packet.
  const step = (p: TftpPacket): Buffer => {
    const bytes = encodeTftp(p);
    return Buffer.concat([Buffer.from([0x40, bytes.length]), bytes]);
  };
  const transfer = (size: number, request: Buffer, steps: Buffer[]): Buffer => {
    const head = Buffer.alloc(3);
    head.writeUInt16BE(size);
    head[2] = request.length;
    return Buffer.concat([head, request, ...steps]);
  };
  save('tftp-transfer', transfer(1500, requests[0], [step({ op: 'ack', block: 1 }), step({ op: 'ack', block: 2 }), step({ op: 'ack', block: 3 })]));
  save('tftp-transfer', transfer(3000, requests[1], [step({ op: 'error', code: 8, message: 'TFTP Aborted' })]));
  save(
    'tftp-transfer',
    transfer(3000, requests[2], [step({ op: 'ack', block: 0 }), Buffer.from([10]), step({ op: 'ack', block: 1 }), step({ op: 'ack', block: 1 })]),
  );
  save(
    'tftp-transfer',
    transfer(
      1024,
      rrq('a', 'octet', [
        ['blksize', '8'],
        ['windowsize', '8'],
      ]),
      [step({ op: 'ack', block: 0 }), Buffer.from([0x20]), step({ op: 'ack', block: 4 }), Buffer.from([19, 19])],
    ),
  );
  save('tftp-transfer', transfer(512, requests[4], [step({ op: 'ack', block: 0 }), step({ op: 'data', block: 1, data: Buffer.alloc(4) })]));
}

function writeHttp(): void {
  const seeds = [
    ['bytes=0-', '/boot/vmlinuz', '"1a-2b-3c"', 'Sun, 06 Nov 1994 08:49:37 GMT'], // curl -C -
    ['bytes=0-1023', '/ipxe.efi', 'W/"x", "y"', 'Sunday, 06-Nov-94 08:49:37 GMT'], // iPXE's first block
    ['bytes=-500', '/profiles/compute/initrd.img', '*', 'Sun Nov  6 08:49:37 1994'], // UEFI HTTP Boot tail probe
    ['bytes=100-50', '/a/../b', '', ''],
    ['bytes=0-1,2-3', '/%2e%2e/etc/passwd', '', ''],
    ['items=0-1', '/boot-evil/x', '', ''],
    ['bytes=00000000000000000000001-', '//etc/passwd', '', ''],
  ];
  for (const [range, path, tags, date] of seeds) {
    const size = Buffer.alloc(4);
    size.writeUInt32BE(10_000);
    save('http-paths', Buffer.concat([size, Buffer.from([range, path, tags, date].join('\0'), 'latin1')]));
  }
}

function writeIpxe(): void {
  const f = (selector: number, values: string[]): Buffer => Buffer.concat([Buffer.from([selector]), Buffer.from(values.join('\0'), 'utf8')]);
  save(
    'ipxe-script',
    f(0, [
      'vmlinuz',
      'initrd.img\x01firmware.cpio',
      'console=ttyS0,115200n8 hostname={name} ip={ip}::{gateway}',
      '',
      '',
      'node07',
      '52:54:00:12:34:56',
      '10.0.0.7',
      'SN123',
      'compute',
      '',
      'http://10.0.0.1/booted/52:54:00:12:34:56',
    ]),
  );
  save('ipxe-script', f(1, ['', '', '', 'http://10.0.0.1/chain/{mac}.ipxe', '', 'node 1 || shell', '52:54:00:12:34:56', '10.0.0.7']));
  save('ipxe-script', f(0x42, ['', '', '', '', '', 'n1', 'aa:bb:cc:dd:ee:ff', '10.0.0.8']));
  save(
    'ipxe-script',
    f(0x0b, [
      '',
      '',
      '',
      '',
      'compute\x02Compute node\x01rescue\x02Rescue ${net0/ip}\x01missing\x02x',
      'n2',
      'aa:bb:cc:dd:ee:01',
      '10.0.0.9',
      '',
      'menu',
      'rescue',
    ]),
  );
  save('ipxe-script', f(0x20, ['k\nshell', 'i#1', '; && || #x \\', '', '', '{name}', '{{mac}', '${ip}', '', '', '', '', 'http://h:8080/']));
}

function writeConfig(): void {
  const dir = join(FIXTURES, 'config');
  for (const name of readdirSync(dir).sort()) save('config-load', readFileSync(join(dir, name)));
  save('config-load', 'a: &a [1,2,3]\nb: &b [*a,*a,*a]\nc: &c [*b,*b,*b]\nd: [*c,*c,*c]\ninterface: eth0\n'); // alias expansion
}

async function writeJournal(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rbfuzz-seed-'));
  try {
    const journal = await Journal.open<{ n: number }>(dir, 'leases');
    await journal.put('10.9.0.100', { n: 1 });
    await journal.put('10.9.0.101', { n: 2 });
    await journal.delete('10.9.0.100');
    await journal.put('10.9.0.101', { n: 3 });
    await journal.close();
    const records = readFileSync(join(dir, 'leases.journal'));
    save('journal-load', records);
    save('journal-load', records.subarray(0, records.length - 7)); // torn by a power cut
    save('journal-load', Buffer.concat([records, Buffer.from('deadbeef {"k":"x","v":{"n":1}}\n')])); // bad checksum
    const compacting = await Journal.open<{ n: number }>(dir, 'leases');
    await compacting.compact();
    await compacting.put('10.9.0.102', { n: 4 });
    await compacting.close();
    const snapshot = readFileSync(join(dir, 'leases.snapshot'));
    const journalAfter = readFileSync(join(dir, 'leases.journal'));
    save('journal-load', Buffer.concat([journalAfter, Buffer.from(SPLIT, 'latin1'), snapshot]));
    save('journal-load', Buffer.concat([journalAfter, Buffer.from(SPLIT, 'latin1'), snapshot, Buffer.from(SPLIT, 'latin1'), records]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `repo`: the repository root (the bundle that runs this lives in a temp directory). */
export async function writeSeeds(repo: string): Promise<void> {
  CORPUS = join(repo, 'test', 'fuzz', 'corpus');
  FIXTURES = join(repo, 'test', 'fixtures');
  writeDhcp();
  writeTftp();
  writeHttp();
  writeIpxe();
  writeConfig();
  await writeJournal();
}
