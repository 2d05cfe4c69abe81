// TFTP against forged and never-acknowledged requests, on the real bundle in network
// namespaces (issue 19 items 2 and 3):
// - a spoofed RRQ with options (source address: a silent victim on the segment, sent
//   as a raw IP packet from another station) draws only the OACK and its resends,
//   seen by tcpdump on the victim's link; rackboot_tftp_unanswered_bytes_total equals
//   the UDP payload bytes captured;
// - tftp-hpa `tftp -m ascii` gets a text file: the bytes on the wire equal a reference
//   netascii conversion, and the file it writes equals the original;
// - during a flood of netascii RRQs for a 300 MB file that are never ACKed, busybox
//   udhcpc still gets its lease about as fast as without the flood, and the slots are
//   back to 0 (rackboot_tftp_slots_in_use) once the transfers time out.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import { readPcapFile } from '../helpers/pcap.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.86.0.1';
const ATTACKER = '10.86.0.2';
const VICTIM = '10.86.0.3';
const CLIENT = '10.86.0.4';
const FLOODER = '10.86.0.5';
const BIG = 300 * 1000 * 1000;

/** Raw senders: a spoofed UDP datagram (IP_HDRINCL) and a flood of RRQs that are never ACKed. */
const SENDER = `
import json, socket, struct, sys, time
spec = json.loads(sys.argv[1])
if spec['mode'] == 'spoof':
    payload = bytes.fromhex(spec['hex'])
    udp = struct.pack('!HHHH', spec['sport'], 69, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, socket.inet_aton(spec['src']), socket.inet_aton(spec['dst']))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for _ in range(spec['count']):
        s.sendto(ip + udp, (spec['dst'], 0))
        time.sleep(spec['interval'])
else:
    payload = bytes.fromhex(spec['hex'])
    socks = []
    for _ in range(spec['count']):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(('0.0.0.0', 0))
        s.sendto(payload, (spec['dst'], 69))
        socks.append(s)
    print('sent', flush=True)
    time.sleep(spec['hold'])
    received = 0
    for s in socks:
        s.setblocking(False)
        while True:
            try:
                s.recv(70000)
                received += 1
            except BlockingIOError:
                break
    print(json.dumps({'received': received}))
`;

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const str = (s: string) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([0])]);
const rrq = (name: string, mode: string, options: [string, string][] = []) =>
  Buffer.concat([u16(1), str(name), str(mode), ...options.flatMap(([n, v]) => [str(n), str(v)])]);

/** RFC 764 as the RFC reads, independent of the product's code. */
function netascii(local: Buffer): Buffer {
  const out: number[] = [];
  for (const byte of local) {
    if (byte === 0x0a) out.push(0x0d, 0x0a);
    else if (byte === 0x0d) out.push(0x0d, 0x00);
    else out.push(byte);
  }
  return Buffer.from(out);
}

/** UDP payloads of the IPv4 frames in a capture. */
function udpPayloads(path: string): Buffer[] {
  const payloads: Buffer[] = [];
  for (const frame of readPcapFile(path)) {
    if (frame.length < 14 + 20 || frame.readUInt16BE(12) !== 0x0800 || frame[14 + 9] !== 17) continue;
    const udp = 14 + (frame[14] & 0x0f) * 4;
    payloads.push(frame.subarray(udp + 8, udp + frame.readUInt16BE(udp + 4)));
  }
  return payloads;
}

/** Sums a metric family's samples. */
function metric(text: string, family: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(family + '{') || line.startsWith(family + ' ')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TFTP: unproven peers and netascii on the wire', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let dir: string;
  let attacker: Netns;
  let victim: Netns;
  let client: Netns;
  let senderPath: string;
  const text = Buffer.from(
    Array.from({ length: 400 }, (_, i) => `label entry${i}\n  kernel vmlinuz-${i}\r\n  append quiet\r${i % 7 === 0 ? '\n\n' : '\n'}`).join(''),
    'latin1',
  );

  beforeAll(async () => {
    ({ lab, server, dir } = await startRackboot({
      address: `${SERVER}/24`,
      files: { 'menu.cfg': text },
      prepare: ({ dir, root }) => {
        const fd = openSync(join(root, 'big.cfg'), 'w');
        writeSync(fd, 'default linux\n');
        closeSync(fd);
        truncateSync(join(root, 'big.cfg'), BIG);
        senderPath = join(dir, 'sender.py');
        writeFileSync(senderPath, SENDER);
      },
      yaml: ({ root }) => `
interface: eth0
lease_time: 1h
pools:
  - subnet: 10.86.0.0/24
    range: 10.86.0.100-10.86.0.150
boot:
  root: ${root}
`,
    }));
    attacker = await lab.lab.namespace('tftp_attacker');
    await lab.segment.attach({ ns: attacker, ifname: 'eth0', address: `${ATTACKER}/24` });
    victim = await lab.lab.namespace('tftp_victim');
    await lab.segment.attach({ ns: victim, ifname: 'eth0', address: `${VICTIM}/24` });
    client = await lab.lab.namespace('tftp_client');
    await lab.segment.attach({ ns: client, ifname: 'eth0', address: `${CLIENT}/24` });
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  const metrics = async () => (await client.exec(['curl', '-sS', `http://${SERVER}/metrics`])).toString();

  async function capture(ns: Netns, name: string): Promise<{ path: string; stop(): Promise<void> }> {
    const path = join(dir, name);
    const tcpdump: ChildProcess = ns.spawn(['tcpdump', '-i', 'eth0', '--immediate-mode', '-U', '-n', '-w', path, `udp and src host ${SERVER}`]);
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${stderr}`)), 20_000);
      tcpdump.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (stderr.includes('listening on')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return {
      path,
      async stop() {
        // Immediate mode hands over each packet as it comes (no ring-buffer block left
        // unread at exit), -U writes it at once; this lets the last ones land.
        await sleep(500);
        tcpdump.kill('SIGINT');
        await once(tcpdump, 'exit');
      },
    };
  }

  it('a spoofed RRQ with windowsize 64, repeated, draws only the OACK and at most 4 resends; the metric equals the bytes captured', async () => {
    const before = metric(await metrics(), 'rackboot_tftp_unanswered_bytes_total');
    const cap = await capture(victim, 'victim.pcap');
    const request = rrq('big.cfg', 'octet', [
      ['blksize', '1428'],
      ['windowsize', '64'],
      ['tsize', '0'],
    ]);
    // Ten copies from the victim's address and one port, 0.3 s apart: the forger's repeats.
    await attacker.exec([
      'python3',
      senderPath,
      JSON.stringify({ mode: 'spoof', src: VICTIM, dst: SERVER, sport: 40069, hex: request.toString('hex'), count: 10, interval: 0.3 }),
    ]);
    // Unproven: the repeats spend the resend budget, and the next 6 s backstop ends the transfer.
    const deadline = Date.now() + 60_000;
    let scrape: string;
    for (;;) {
      scrape = await metrics();
      if (metric(scrape, 'rackboot_tftp_unanswered_bytes_total') > before && metric(scrape, 'rackboot_tftp_slots_in_use') === 0) break;
      if (Date.now() > deadline) throw new Error(`the spoofed transfer did not end:\n${scrape}`);
      await sleep(1000);
    }
    await cap.stop();
    const payloads = udpPayloads(cap.path);
    const ops = payloads.map((p) => p.readUInt16BE(0));
    expect(ops.filter((op) => op === 3)).toEqual([]); // no DATA
    const oacks = ops.filter((op) => op === 6).length;
    expect(oacks).toBeGreaterThanOrEqual(1);
    expect(oacks).toBeLessThanOrEqual(5);
    expect(ops.filter((op) => op !== 6 && op !== 5)).toEqual([]);
    const captured = payloads.reduce((sum, p) => sum + p.length, 0);
    expect(metric(scrape, 'rackboot_tftp_unanswered_bytes_total') - before).toBe(captured);
    expect(captured).toBeLessThan(400);
  }, 120_000);

  it('tftp-hpa in ascii mode: the wire carries the reference netascii conversion, the file it writes is the original', async () => {
    const cap = await capture(client, 'ascii.pcap');
    const dest = join(dir, 'menu.got');
    await client.exec(['tftp', '-m', 'ascii', SERVER, '-c', 'get', 'menu.cfg', dest], { timeoutMs: 30_000 });
    await cap.stop();
    const blocks = new Map<number, Buffer>();
    for (const p of udpPayloads(cap.path)) if (p.readUInt16BE(0) === 3) blocks.set(p.readUInt16BE(2), p.subarray(4));
    const wire = Buffer.concat([...blocks.keys()].sort((a, b) => a - b).map((b) => blocks.get(b)!));
    const expected = netascii(text);
    let firstDiff = 0;
    while (firstDiff < Math.min(wire.length, expected.length) && wire[firstDiff] === expected[firstDiff]) firstDiff++;
    expect({ length: wire.length, firstDiff, blocks: blocks.size }).toEqual({
      length: expected.length,
      firstDiff: expected.length,
      blocks: Math.floor(expected.length / 512) + 1,
    });
    expect(readFileSync(dest).equals(text)).toBe(true);
  }, 60_000);

  it('during a flood of never-ACKed netascii RRQs for a 300 MB file, udhcpc gets its lease as promptly as before; slots return to 0', async () => {
    const lease = async (label: string): Promise<number> => {
      const ns = await lab.lab.namespace(label);
      await lab.segment.attach({ ns, ifname: 'eth0', address: null });
      const { script } = await lab.clientScript('udhcpc', label);
      const started = performance.now();
      await ns.exec(['udhcpc', '-f', '-q', '-n', '-i', 'eth0', '-s', script, '-t', '10', '-T', '1'], { timeoutMs: 30_000 });
      return performance.now() - started;
    };
    const baseline = await lease('tftp_dhcp1');

    const flooder = await lab.lab.namespace('tftp_flooder');
    await lab.segment.attach({ ns: flooder, ifname: 'eth0', address: `${FLOODER}/24` });
    const flood = flooder.spawn([
      'python3',
      senderPath,
      JSON.stringify({ mode: 'flood', dst: SERVER, hex: rrq('big.cfg', 'netascii').toString('hex'), count: 8, hold: 8 }),
    ]);
    let out = '';
    const exited = once(flood, 'exit');
    await new Promise<void>((resolve, reject) => {
      flood.once('exit', () => reject(new Error(`the flooder ended early: ${out}`)));
      flood.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('sent')) resolve();
      });
    });
    const flooded = await lease('tftp_dhcp2');
    console.log(`udhcpc lease: ${baseline.toFixed(0)} ms before the flood, ${flooded.toFixed(0)} ms during it`);
    expect(flooded, `lease took ${flooded.toFixed(0)} ms during the flood, ${baseline.toFixed(0)} ms before`).toBeLessThan(Math.max(3000, baseline + 2000));
    await exited;
    const report = JSON.parse(out.slice(out.indexOf('{'))) as { received: number };
    expect(report.received).toBeGreaterThanOrEqual(8); // every request was answered (block 1)

    // Never ACKed: each transfer gives up after block 1 and its resends.
    const deadline = Date.now() + 90_000;
    let scrape: string;
    for (;;) {
      scrape = await metrics();
      if (metric(scrape, 'rackboot_tftp_slots_in_use') === 0 && metric(scrape, 'rackboot_tftp_active_transfers') === 0) break;
      if (Date.now() > deadline) throw new Error(`slots still in use:\n${scrape}`);
      await sleep(1000);
    }
    expect(scrape).toMatch(/^rackboot_tftp_slots_in_use 0$/m);
  }, 180_000);
});
