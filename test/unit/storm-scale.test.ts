// The storm's scale logic (firmware/src/storm/scale.ts, dhcp-tap.ts): room in
// the kernel-wide neighbour table, the open-files check, one `ip -batch` for
// many nodes' address changes with errors told to the right node, the
// shared DHCP socket's filter and demultiplexing, and the report at 1,000 rows.
import { describe, expect, it } from 'vitest';
import {
  BatchRunner,
  fileDescriptorProblem,
  neighbourThresholdsFor,
  parseBatchFailures,
  parseOpenFilesLimit,
  type BatchFailures,
} from '../../firmware/src/storm/scale.js';
import { decodeDhcpFrame, dhcpRecipient, stormDhcpFilter } from '../../firmware/src/storm/dhcp-tap.js';
import { PACKET_HOST, PACKET_OTHERHOST, PACKET_OUTGOING, PACKET_BROADCAST } from '../../firmware/src/net/bpf.js';
import { runBpf } from '../helpers/bpf-interpreter.js';
import { encodeUdpFrame } from '../../firmware/src/net/frame.js';
import { macToBytes } from '../../firmware/src/net/addr.js';
import { encodeDhcp } from '../../firmware/src/dhcp/codec.js';
import { Opt, MessageType, type DhcpMessage } from '../../firmware/src/dhcp/message.js';
import { timelineSvg } from '../../firmware/src/storm/timeline-svg.js';
import { progressLine } from '../../firmware/src/storm/report.js';
import type { NodeResult } from '../../firmware/src/storm/virtual-node.js';

const DEFAULTS = { gc_thresh1: 128, gc_thresh2: 512, gc_thresh3: 1024 };

describe('neighbour table room', () => {
  it('raises the defaults for 1,000 nodes to two entries per node plus headroom, never lowering', () => {
    expect(neighbourThresholdsFor(1000, DEFAULTS)).toEqual({ gc_thresh1: 128, gc_thresh2: 2256, gc_thresh3: 4512 });
    // 500 nodes already overflow the 1,024-entry default (server side + node side).
    expect(neighbourThresholdsFor(500, DEFAULTS)).toEqual({ gc_thresh1: 128, gc_thresh2: 1256, gc_thresh3: 2512 });
    const roomy = { gc_thresh1: 128, gc_thresh2: 100_000, gc_thresh3: 200_000 };
    expect(neighbourThresholdsFor(1000, roomy)).toBeUndefined();
    expect(neighbourThresholdsFor(1000, { gc_thresh1: 128, gc_thresh2: 100_000, gc_thresh3: 1024 })).toEqual({
      gc_thresh1: 128,
      gc_thresh2: 100_000,
      gc_thresh3: 4512,
    });
  });

  it('leaves storms the default table holds alone', () => {
    expect(neighbourThresholdsFor(20, DEFAULTS)).toBeUndefined();
    expect(neighbourThresholdsFor(384, DEFAULTS)).toBeUndefined();
    expect(neighbourThresholdsFor(385, DEFAULTS)).toBeDefined();
  });
});

describe('open files', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    const limits =
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    expect(parseOpenFilesLimit(limits)).toBe(1024);
    expect(parseOpenFilesLimit('Max open files            unlimited            unlimited            files\n')).toBe(Infinity);
    expect(parseOpenFilesLimit('nothing here')).toBeUndefined();
  });

  it('refuses 1,000 nodes under the common 1,024 default with what to do, accepts them at 20,000', () => {
    expect(fileDescriptorProblem(1000, 1024)).toMatch(/1000 nodes need about 4256 open files, the limit is 1024: raise it \(ulimit -n 4256\)/);
    expect(fileDescriptorProblem(1000, 20_000)).toBeUndefined();
    expect(fileDescriptorProblem(100, 1024)).toBeUndefined();
  });
});

describe('ip -batch failures', () => {
  it("reads ip's per-line errors", () => {
    const failures = parseBatchFailures('RTNETLINK answers: File exists\nCommand failed -:2\nCannot find device "stm9"\nCommand failed -:5\n');
    expect([...failures]).toEqual([
      [2, 'RTNETLINK answers: File exists'],
      [5, 'Cannot find device "stm9"'],
    ]);
  });
});

describe('BatchRunner', () => {
  /** An executor that records each run and fails the lines it is told to. */
  function recorder(failing: (line: string) => string | undefined = () => undefined) {
    const runs: string[][] = [];
    let release: (() => void) | undefined;
    let hold = true;
    const execute = async (lines: string[]): Promise<BatchFailures> => {
      runs.push(lines);
      if (hold) await new Promise<void>((r) => (release = r));
      const failures: BatchFailures = new Map();
      lines.forEach((line, i) => {
        const message = failing(line);
        if (message) failures.set(i + 1, message);
      });
      return failures;
    };
    return {
      runs,
      execute,
      releaseFirst: () => {
        hold = false;
        release?.();
      },
    };
  }

  it('sends submissions that arrive during a run together in the next one', async () => {
    const r = recorder();
    const runner = new BatchRunner(r.execute);
    const first = runner.submit(['addr add 10.0.0.1/32 dev stm0']);
    const rest = Array.from({ length: 100 }, (_, i) => runner.submit([`addr add 10.0.1.${i}/32 dev stm${i + 1}`, `rule add pref ${20001 + i}`]));
    expect(r.runs).toHaveLength(1);
    r.releaseFirst();
    await Promise.all([first, ...rest]);
    expect(r.runs).toHaveLength(2);
    expect(r.runs[1]).toHaveLength(200);
    expect(runner.runs).toBe(2);
  });

  it('tells only the node whose line failed', async () => {
    const r = recorder((line) => (line.includes('stm2 ') || line.endsWith('stm2') ? 'RTNETLINK answers: File exists' : undefined));
    const runner = new BatchRunner(r.execute);
    const held = runner.submit(['link set stm0 up']);
    const ok1 = runner.submit(['addr add 10.0.0.1/32 dev stm1', 'rule add pref 20001']);
    const bad = runner.submit(['addr add 10.0.0.2/32 dev stm2', 'rule add pref 20002']);
    const ok3 = runner.submit(['addr add 10.0.0.3/32 dev stm3']);
    r.releaseFirst();
    await held;
    await expect(ok1).resolves.toBeUndefined();
    await expect(bad).rejects.toThrow(/addr add 10.0.0.2\/32 dev stm2: RTNETLINK answers: File exists/);
    await expect(ok3).resolves.toBeUndefined();
  });

  it('splits a queue longer than maxLines into several runs and fails everyone on an executor error', async () => {
    const r = recorder();
    const runner = new BatchRunner(r.execute, 3);
    const held = runner.submit(['a']);
    const more = [runner.submit(['b', 'c']), runner.submit(['d', 'e']), runner.submit(['f'])];
    r.releaseFirst();
    await Promise.all([held, ...more]);
    expect(r.runs).toEqual([['a'], ['b', 'c'], ['d', 'e', 'f']]);

    const broken = new BatchRunner(() => Promise.reject(new Error('ip: not found')));
    await expect(broken.submit(['x'])).rejects.toThrow('ip: not found');
    await expect(broken.submit([])).resolves.toBeUndefined();
  });
});

describe('shared DHCP socket', () => {
  const prefix = [0x02, 0x72, 0x62, 0x5a];
  const filter = stormDhcpFilter(prefix);
  const offer = (chaddrMac: string): DhcpMessage => {
    const chaddr = Buffer.alloc(16);
    macToBytes(chaddrMac).copy(chaddr);
    return {
      op: 2,
      htype: 1,
      hlen: 6,
      hops: 0,
      xid: 7,
      secs: 0,
      flags: 0,
      ciaddr: '0.0.0.0',
      yiaddr: '10.0.0.9',
      siaddr: '10.0.0.1',
      giaddr: '0.0.0.0',
      chaddr,
      sname: '',
      file: '',
      options: new Map([[Opt.MessageType, Buffer.from([MessageType.Offer])]]),
    };
  };
  const frame = (dstMac: string, dstPort = 68, message = offer('02:72:62:5a:00:07')): Buffer =>
    encodeUdpFrame({ srcMac: '52:54:00:00:00:01', dstMac, srcIp: '10.0.0.1', dstIp: '10.0.0.9', srcPort: 67, dstPort, payload: encodeDhcp(message) });

  it("takes DHCP replies to this storm's MACs (other-host on the parent) and broadcast, nothing else", () => {
    expect(runBpf(filter, frame('02:72:62:5a:00:07'), { pktType: PACKET_OTHERHOST })).toBeGreaterThan(0);
    expect(runBpf(filter, frame('ff:ff:ff:ff:ff:ff'), { pktType: PACKET_BROADCAST })).toBeGreaterThan(0);
    expect(runBpf(filter, frame('02:72:62:5a:00:07'), { pktType: PACKET_OUTGOING })).toBe(0); // a node's own DISCOVER
    expect(runBpf(filter, frame('02:72:62:5b:00:07'), { pktType: PACKET_OTHERHOST })).toBe(0); // another storm
    expect(runBpf(filter, frame('ff:ff:ff:ff:00:00'), { pktType: PACKET_HOST })).toBe(0);
    expect(runBpf(filter, frame('02:72:62:5a:00:07', 69), { pktType: PACKET_OTHERHOST })).toBe(0); // TFTP, not DHCP
  });

  it('hands a unicast reply to its destination MAC and a broadcast one to chaddr', () => {
    const unicast = decodeDhcpFrame(frame('02:72:62:5a:00:03', 68, offer('02:72:62:5a:00:03')), false)!;
    expect(unicast.to).toBe('02:72:62:5a:00:03');
    expect(unicast.from).toEqual({ ip: '10.0.0.1', port: 67, mac: '52:54:00:00:00:01' });
    const broadcast = decodeDhcpFrame(frame('ff:ff:ff:ff:ff:ff', 68, offer('02:72:62:5a:01:00')), false)!;
    expect(broadcast.to).toBe('02:72:62:5a:01:00');
    expect(dhcpRecipient('02:72:62:5a:00:09', offer('02:72:62:5a:00:01'))).toBe('02:72:62:5a:00:09');
    expect(decodeDhcpFrame(frame('02:72:62:5a:00:03', 69), false)).toBeUndefined();
    expect(decodeDhcpFrame(Buffer.alloc(20), false)).toBeUndefined(); // not IPv4
    // A 10-byte "DHCP" payload: the tap counts it as malformed (DhcpTap.deliver catches this).
    const garbage = encodeUdpFrame({
      srcMac: '52:54:00:00:00:01',
      dstMac: '02:72:62:5a:00:03',
      srcIp: '10.0.0.1',
      dstIp: '10.0.0.9',
      srcPort: 67,
      dstPort: 68,
      payload: Buffer.alloc(10),
    });
    expect(() => decodeDhcpFrame(garbage, false)).toThrow();
  });
});

describe('a 1,000-node storm in the report', () => {
  const many: NodeResult[] = Array.from({ length: 1000 }, (_, i) => ({
    index: i,
    mac: `02:72:62:5a:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    firmware: 'bios-pxe',
    outcome: i === 999 ? 'tftp_open_timeout' : 'booted',
    detail: i === 999 ? 'PXE-E32: no answer' : 'booted',
    poweredOnAt: 0,
    finishedAt: 10_000 + i,
    stages: [
      { stage: 'power_on', at: 0 },
      { stage: 'dhcp_discover', at: 0 },
      { stage: 'nbp_tftp', at: 2000 },
      { stage: 'kernel', at: 6000 + i },
    ],
    bytes: { nbp: 1, script: 1, kernel: 1, initrd: 1 },
    dhcpTransmissions: 2,
    tftpRetransmits: 0,
  }));

  it('draws 1 px rows without per-stretch tooltips, keeping the failure cross and its detail', () => {
    const svg = timelineSvg(many, 'big');
    expect(svg.match(/<rect [^>]*height="1" fill="#8e44ad"\/>/g)).toHaveLength(1000); // every node's TFTP stretch, 1 px high
    expect(svg).not.toMatch(/<title>node 5 /);
    expect(svg).toContain('node 999: tftp_open_timeout');
    expect(svg.length).toBeLessThan(400_000);
    expect(Number(/<svg [^>]*height="(\d+)"/.exec(svg)![1])).toBeGreaterThan(1000);
  });

  it('keeps the progress line one fixed-width summary', () => {
    const line = progressLine(
      5000,
      many.map((n) => (n.outcome === 'booted' ? 'booted' : 'kernel')),
    );
    expect(line).toBe(`[${'#'.repeat(30)}] 999/1000 booted, 0 failed  5 s  kernel 1`);
  });
});
