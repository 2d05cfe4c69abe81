// Malformed and hostile TFTP packets against the real bundle in a network
// namespace. A tiny node:dgram sender (written to the lab directory and run in
// the client namespace) sends raw hex payloads from one socket and prints every
// reply with its source port; the test asserts each answer (or its absence),
// that a real client still gets its bytes, and, at the end, the server's
// counters from its 'stopped' log line.
//
// Expected answers follow the documented decisions in firmware/src/tftp/codec.ts
// (decoding), options.ts (odd option values are left out of the OACK, never an
// error) and paths.ts (what is error 1 and what is error 2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, symlink, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File, writeRandomFiles } from '../helpers/checksum.js';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.82.0.1';
const CLIENT = '10.82.0.2';
const FOREIGN = '10.82.0.3';
const MB = 1024 * 1024;

const SENDER = `
import dgram from 'node:dgram';
const spec = JSON.parse(process.argv[2]);
const sock = dgram.createSocket('udp4');
const answered = new Set();
const u16 = (n) => Buffer.from([n >> 8, n & 255]);
sock.on('message', (msg, rinfo) => {
  process.stdout.write(JSON.stringify({ port: rinfo.port, address: rinfo.address, hex: msg.toString('hex') }) + '\\n');
  const op = msg.length >= 2 ? msg.readUInt16BE(0) : -1;
  if (op !== 3 && op !== 6) return;
  if (spec.respond === 'ack') {
    sock.send(Buffer.concat([u16(4), op === 6 ? u16(0) : msg.subarray(2, 4)]), rinfo.port, rinfo.address);
  } else if (spec.respond === 'abort' && !answered.has(rinfo.port)) {
    answered.add(rinfo.port);
    sock.send(Buffer.concat([u16(5), u16(0), Buffer.from('test done\\0')]), rinfo.port, rinfo.address);
  }
});
sock.bind(0, async () => {
  for (const step of spec.steps) {
    await new Promise((r) => sock.send(Buffer.from(step.hex, 'hex'), step.port ?? 69, spec.host, r));
    if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
  }
  setTimeout(() => sock.close(), spec.waitMs ?? 1000);
});
`;

interface Reply {
  port: number;
  address: string;
  hex: string;
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 255]);
const str = (s: string) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.from([0])]);
const rrq = (name: string, mode = 'octet', options: [string, string][] = []) =>
  Buffer.concat([u16(1), str(name), str(mode), ...options.flatMap(([n, v]) => [str(n), str(v)])]);
const wrq = (name: string) => Buffer.concat([u16(2), str(name), str('octet')]);
const ack = (block: number) => Buffer.concat([u16(4), u16(block)]);

function parse(reply: Reply) {
  const buf = Buffer.from(reply.hex, 'hex');
  const op = buf.length >= 2 ? buf.readUInt16BE(0) : -1;
  if (op === 5)
    return { op: 'error' as const, port: reply.port, code: buf.readUInt16BE(2), message: buf.toString('latin1', 4, Math.max(4, buf.indexOf(0, 4))) };
  if (op === 3) return { op: 'data' as const, port: reply.port, block: buf.readUInt16BE(2), length: buf.length - 4 };
  if (op === 6) {
    const parts = buf.toString('latin1', 2).split('\0');
    const options: Record<string, string> = {};
    for (let i = 0; i + 1 < parts.length; i += 2) if (parts[i]) options[parts[i]] = parts[i + 1]!;
    return { op: 'oack' as const, port: reply.port, options };
  }
  return { op: 'other' as const, port: reply.port, hex: reply.hex };
}

describe('TFTP against malformed and hostile packets', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let client: Netns;
  let foreign: Netns;
  let senderPath: string;
  let sums: Map<string, string>;
  /** Counters this file's cases expect the server to have counted. */
  const expected: Record<string, number> = {};
  const count = (name: string, n = 1) => (expected[name] = (expected[name] ?? 0) + n);

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      prepare: async ({ dir, root }) => {
        await mkdir(join(root, 'sub'));
        const files: Record<string, number> = { 'small.bin': 600, 'tiny.bin': 100, 'big.bin': 24 * MB };
        sums = await writeRandomFiles(root, files);
        await writeFile(join(dir, 'secret'), 'outside the boot root\n');
        await symlink(join(dir, 'secret'), join(root, 'escape'));
        await symlink('../../secret', join(root, 'sub', 'escape-relative'));
        senderPath = join(dir, 'sender.mjs');
        await writeFile(senderPath, SENDER);
      },
      // A per-transfer rate of 40 Mbit/s makes the 24 MB fetch last ~5 s: time to hit its TID.
      yaml: ({ root }) => `
interface: eth0
mode: proxy
boot:
  root: ${root}
tftp:
  transfer_rate_mbit: 40
`,
    }));
    client = await lab.client(undefined, `${CLIENT}/24`);
    foreign = await lab.client(undefined, `${FOREIGN}/24`);
  }, 120_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  async function send(
    payloads: Buffer[],
    opts: { respond?: 'none' | 'ack' | 'abort'; waitMs?: number; port?: number; from?: Netns; delayMs?: number } = {},
  ): Promise<ReturnType<typeof parse>[]> {
    const spec = {
      host: SERVER,
      respond: opts.respond ?? 'none',
      waitMs: opts.waitMs ?? 1000,
      steps: payloads.map((p) => ({ hex: p.toString('hex'), port: opts.port, delayMs: opts.delayMs })),
    };
    const out = await (opts.from ?? client).exec(['node', senderPath, JSON.stringify(spec)], { timeoutMs: 30_000 });
    return out
      .split('\n')
      .filter(Boolean)
      .map((line) => parse(JSON.parse(line) as Reply));
  }

  async function expectError(payload: Buffer, code: number, what: string): Promise<void> {
    const replies = await send([payload]);
    expect(replies, what).toHaveLength(1);
    expect(replies[0], what).toMatchObject({ op: 'error', code });
    expect(replies[0].port, `${what}: errors come from a fresh port, not 69`).not.toBe(69);
  }

  it('truncated packets: 1 byte is dropped, a cut RRQ gets ERROR 4', async () => {
    expect(await send([Buffer.from([0x00])])).toEqual([]);
    count('malformed.tftp');
    // Two bytes: opcode RRQ and nothing else.
    await expectError(u16(1), 4, 'RRQ of 2 bytes');
    count('malformed.tftp');
    // A filename that runs to the end of the packet (no NUL).
    await expectError(Buffer.concat([u16(1), Buffer.from('small.bin')]), 4, 'RRQ without NUL after the filename');
    count('malformed.tftp');
    // Filename but no mode NUL.
    await expectError(Buffer.concat([u16(1), str('small.bin'), Buffer.from('octet')]), 4, 'RRQ without NUL after the mode');
    count('malformed.tftp');
    // Empty mode.
    await expectError(Buffer.concat([u16(1), str('small.bin'), str('')]), 4, 'RRQ with an empty mode');
    count('malformed.tftp');
  }, 30_000);

  it('bad opcodes (0, 7, 9, 0xffff) get no answer', async () => {
    for (const op of [0, 7, 9, 0xffff]) {
      expect(await send([Buffer.concat([u16(op), str('small.bin'), str('octet')])]), `opcode ${op}`).toEqual([]);
      count('malformed.tftp');
    }
  }, 30_000);

  it('an option name without a value is a cut request: ERROR 4', async () => {
    await expectError(Buffer.concat([rrq('small.bin'), str('blksize')]), 4, 'option without value');
    count('malformed.tftp');
    await expectError(Buffer.concat([rrq('small.bin'), str('blksize'), Buffer.from('1024')]), 4, 'option value without NUL');
    count('malformed.tftp');
  }, 30_000);

  it('unsupported transfer mode: ERROR 4', async () => {
    await expectError(rrq('small.bin', 'mail'), 4, 'mode mail');
    count('tftp.requests');
  }, 30_000);

  it('blksize 0, 70000 and "abc" are ignored: DATA 1 of 512 bytes, or an OACK without blksize', async () => {
    for (const value of ['0', '70000', 'abc', '7', '-512', ' 1024']) {
      const replies = await send([rrq('small.bin', 'octet', [['blksize', value]])], { respond: 'ack' });
      const data = replies.filter((r) => r.op === 'data');
      expect(
        replies.filter((r) => r.op === 'oack' || r.op === 'error'),
        `blksize ${value}: no OACK, no ERROR`,
      ).toEqual([]);
      expect(
        data.map((d) => (d.op === 'data' ? [d.block, d.length] : [])),
        `blksize ${JSON.stringify(value)}`,
      ).toEqual([
        [1, 512],
        [2, 88],
      ]);
      count('tftp.requests');
      count('tftp.done');
    }
    // With another option accepted, the OACK carries that one and leaves blksize out.
    for (const value of ['0', '70000', 'abc']) {
      const replies = await send(
        [
          rrq('small.bin', 'octet', [
            ['blksize', value],
            ['tsize', '0'],
          ]),
        ],
        { respond: 'ack' },
      );
      expect(replies[0], `blksize ${value} + tsize`).toEqual({ op: 'oack', port: replies[0].port, options: { tsize: '600' } });
      expect(replies.slice(1).map((d) => (d.op === 'data' ? [d.block, d.length] : d))).toEqual([
        [1, 512],
        [2, 88],
      ]);
      count('tftp.requests');
      count('tftp.done');
    }
    // A valid blksize is honoured (control case).
    const replies = await send([rrq('small.bin', 'octet', [['blksize', '1024']])], { respond: 'ack' });
    expect(replies[0]).toMatchObject({ op: 'oack', options: { blksize: '1024' } });
    expect(replies[1]).toMatchObject({ op: 'data', block: 1, length: 600 });
    count('tftp.requests');
    count('tftp.done');
  }, 60_000);

  it('path traversal and odd names are refused as paths.ts documents', async () => {
    const refused: [string, string][] = [
      ['../etc/passwd', 'dot-dot'],
      ['/../x', 'leading slash then dot-dot'],
      ['a/../../x', 'dot-dot in the middle'],
      ['sub/../small.bin', 'dot-dot staying inside the root'],
      ['..\\x', 'backslash'],
      ['sub\\small.bin', 'backslash as separator'],
      ['/etc/passwd/', 'trailing slash'],
      ['sub', 'a directory'],
      ['/', 'the root itself'],
      ['x'.repeat(300), '300-byte name'],
      ['small\x01.bin', 'control character'],
      ['small\x7f.bin', 'DEL'],
      ['sm\xffall.bin', 'byte above 0x7e'],
      ['escape', 'absolute symlink leading outside the root'],
      ['sub/escape-relative', 'relative symlink leading outside the root'],
    ];
    for (const [name, what] of refused) {
      await expectError(rrq(name), 2, what);
      count('tftp.refused.path');
      count('tftp.requests');
    }
    for (const [name, what] of [
      ['missing.bin', 'missing file'],
      ['sub/missing.bin', 'missing file in a directory'],
    ] as const) {
      await expectError(rrq(name), 1, what);
      count('tftp.not_found');
      count('tftp.requests');
    }
    // Empty name: documented as 1, file not found (a PXE ROM without a DHCP boot file).
    await expectError(rrq(''), 1, 'empty file name');
    count('tftp.not_found');
    count('tftp.requests');
    // A name over 512 bytes is malformed at decoding.
    await expectError(rrq('y'.repeat(600)), 4, '600-byte name');
    count('malformed.tftp');
    // One leading slash is stripped, as tftp-hpa -s does: served.
    const served = await send([rrq('/tiny.bin')], { respond: 'ack' });
    expect(served).toMatchObject([{ op: 'data', block: 1, length: 100 }]);
    count('tftp.requests');
    count('tftp.done');
  }, 60_000);

  it('a NUL inside the name ends the name: the rest is the mode, and nothing is served', async () => {
    // "small.bin\0../etc/passwd\0octet\0": filename small.bin, mode "../etc/passwd",
    // then "octet" as an option name without value -> malformed, ERROR 4.
    await expectError(Buffer.concat([u16(1), str('small.bin'), str('../etc/passwd'), str('octet')]), 4, 'NUL inside the name, cut option');
    count('malformed.tftp');
    // "small.bin\0x\0octet\0blksize\0512\0": filename small.bin, mode "x" -> ERROR 4 (mode), not DATA.
    await expectError(Buffer.concat([u16(1), str('small.bin'), str('x'), str('octet'), str('512')]), 4, 'NUL inside the name, odd mode');
    count('tftp.requests');
  }, 30_000);

  it('WRQ is refused with ERROR 2', async () => {
    await expectError(wrq('upload.bin'), 2, 'WRQ');
    count('tftp.refused.write');
    await expectError(wrq('../etc/passwd'), 2, 'WRQ with traversal');
    count('tftp.refused.write');
  }, 30_000);

  it('DATA, ACK, ERROR and OACK sent to port 69 get no answer', async () => {
    const strays = [
      Buffer.concat([u16(3), u16(1), Buffer.from('hello')]),
      ack(0),
      ack(1),
      Buffer.concat([u16(5), u16(0), str('x')]),
      Buffer.concat([u16(6), str('blksize'), str('512')]),
    ];
    expect(await send(strays)).toEqual([]);
    count('tftp.dropped.not_a_request', strays.length);
    // Cut ones are malformed, and not answered either (only RRQ/WRQ opcodes get ERROR 4).
    expect(await send([Buffer.concat([u16(3), Buffer.from([0])]), u16(4), u16(5)])).toEqual([]);
    count('malformed.tftp', 3);
  }, 30_000);

  it('the same RRQ twice from one port starts one transfer', async () => {
    const request = rrq('small.bin');
    const replies = await send([request, request], { respond: 'abort', waitMs: 1500 });
    const ports = new Set(replies.filter((r) => r.op === 'data' && r.block === 1).map((r) => r.port));
    expect(ports.size, JSON.stringify(replies)).toBe(1);
    count('tftp.requests');
    count('tftp.duplicate_request');
    count('tftp.failed.client-error');
    // With options: one OACK source port.
    const withOptions = rrq('small.bin', 'octet', [
      ['blksize', '1024'],
      ['tsize', '0'],
    ]);
    const again = await send([withOptions, withOptions, withOptions], { respond: 'abort', waitMs: 1500 });
    const oackPorts = new Set(again.filter((r) => r.op === 'oack' || (r.op === 'data' && r.block === 1)).map((r) => r.port));
    expect(oackPorts.size, JSON.stringify(again)).toBe(1);
    count('tftp.requests');
    count('tftp.duplicate_request', 2);
    // ERROR 0 "test done" (not "TFTP Aborted", not 8) in answer to the OACK: 'client-error'.
    count('tftp.failed.client-error');
  }, 30_000);

  it('a packet from a foreign TID gets ERROR 5 and the real transfer still completes', async () => {
    const dest = join(lab.dir, 'big.out');
    const fetch = client.exec(['atftp', '--option', 'blksize 1428', '-g', '-r', 'big.bin', '-l', dest, SERVER], { timeoutMs: 60_000 });
    // The transfer's TID: the one UDP socket bound to SERVER on a non-service port.
    const services = new Set([67, 68, 69, 80, 4011]);
    let tid: number | undefined;
    const deadline = Date.now() + 10_000;
    while (tid === undefined && Date.now() < deadline) {
      const ss = await lab.server.exec(['ss', '-u', '-a', '-n', '-H']);
      const ports = ss
        .split('\n')
        .map((line) => line.trim().split(/\s+/)[3] ?? '')
        .filter((local) => local.startsWith(`${SERVER}:`))
        .map((local) => Number(local.slice(SERVER.length + 1)))
        .filter((p) => !services.has(p));
      if (ports.length === 1) tid = ports[0];
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(tid, 'transfer TID port seen with ss').toBeDefined();
    // From another host (and, below, another port on the client's own host).
    const fromForeign = await send([ack(1), Buffer.concat([u16(5), u16(0), str('go away')]), ack(65535)], { port: tid, from: foreign, waitMs: 500 });
    expect(fromForeign).toHaveLength(3);
    for (const r of fromForeign) expect(r).toMatchObject({ op: 'error', code: 5, port: tid });
    const fromOtherPort = await send([ack(3)], { port: tid, waitMs: 500 });
    expect(fromOtherPort).toMatchObject([{ op: 'error', code: 5, port: tid }]);
    count('tftp.unknown_tid', 4);
    await fetch;
    expect(await sha256File(dest)).toBe(sums.get('big.bin'));
    await rm(dest);
    count('tftp.requests');
    count('tftp.done');
  }, 90_000);

  it('still serves a normal tftp get afterwards, and counted everything', async () => {
    const dest = join(lab.dir, 'small.out');
    await client.exec(['tftp', '-m', 'binary', SERVER, '-c', 'get', 'small.bin', dest]);
    expect(await sha256File(dest)).toBe(sums.get('small.bin'));
    count('tftp.requests');
    count('tftp.done');
    const code = await server.stop();
    expect(code).toBe(0);
    const stopped = await server.waitFor((l) => l.msg === 'stopped');
    const counters = stopped.counters as Record<string, number>;
    const tftpCounters = Object.fromEntries(Object.entries(counters).filter(([k]) => k.startsWith('tftp.') || k === 'malformed.tftp'));
    console.log('server counters:', JSON.stringify(tftpCounters));
    for (const [name, value] of Object.entries(expected)) expect(counters[name] ?? 0, name).toBe(value);
    // Nothing failed beyond the transfers this file ended on purpose.
    for (const name of Object.keys(tftpCounters).filter((k) => k.startsWith('tftp.failed.'))) expect(expected[name] ?? 0, name).toBe(counters[name]);
    expect(counters['tftp.errors'] ?? 0).toBe(0);
  }, 60_000);
});
