// ICMP echo conflict check (RFC 2131 section 2.2: a server SHOULD probe an address
// before offering it). On the local segment rackboot probes with ARP; on relayed
// subnets ARP cannot reach, so it pings. One raw ICMP socket serves every probe in
// the process; replies are matched by identifier, sequence number and source, and
// the socket is closed whenever no probe is outstanding so the process can exit.

import type { EventEmitter } from 'node:events';
import { isIpv4, type Ipv4 } from './addr.js';

/** The slice of the `raw-socket` package (CommonJS, no types) that we use. */
interface RawSocket extends EventEmitter {
  send(buffer: Buffer, offset: number, length: number, address: string, afterSend: (err: Error | null, bytes: number) => void): this;
  close(): this;
}
interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily?: number }): RawSocket;
  createChecksum(...buffers: Buffer[]): number;
  writeChecksum(buffer: Buffer, offset: number, checksum: number): Buffer;
  Protocol: { ICMP: number };
  AddressFamily: { IPv4: number };
}

const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const PAYLOAD = Buffer.from('rackboot-probe..', 'latin1');

interface Probe {
  ip: Ipv4;
  sequences: number[];
  timers: NodeJS.Timeout[];
  settle: (answered: boolean | Error) => void;
}

let rawSocketModule: Promise<RawSocketModule> | undefined;
let socket: RawSocket | undefined;
/** Identifies our echoes among every ICMP message the raw socket sees. */
const identifier = process.pid & 0xffff;
let nextSequence = Math.floor(Math.random() * 0x10000);
const outstanding = new Map<number, Probe>(); // by sequence number

/**
 * Resolves true if `ip` answers an ICMP echo within `timeoutMs`, false otherwise.
 * Two echoes are sent (at once and halfway through) so one lost packet does not
 * hide a host. Rejects if the probe cannot be sent (no CAP_NET_RAW, no route).
 */
export async function icmpEchoProbe(ip: Ipv4, timeoutMs: number): Promise<boolean> {
  if (!isIpv4(ip)) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`probe timeout must be a positive number of milliseconds, not ${timeoutMs}`);
  }
  const raw = await loadRawSocket();
  const sock = openSocket(raw); // synchronous from here: no other probe can interleave
  return new Promise<boolean>((resolve, reject) => {
    const probe: Probe = {
      ip,
      sequences: [],
      timers: [],
      settle: (answered) => {
        for (const timer of probe.timers) clearTimeout(timer);
        for (const sequence of probe.sequences) outstanding.delete(sequence);
        probe.settle = () => {}; // later replies and errors for this probe are moot
        if (outstanding.size === 0) closeSocket();
        if (answered instanceof Error) reject(answered);
        else resolve(answered);
      },
    };
    sendEcho(raw, sock, probe);
    probe.timers.push(setTimeout(() => sendEcho(raw, sock, probe), timeoutMs / 2));
    probe.timers.push(setTimeout(() => probe.settle(false), timeoutMs));
  });
}

function sendEcho(raw: RawSocketModule, sock: RawSocket, probe: Probe): void {
  const sequence = allocateSequence();
  probe.sequences.push(sequence);
  outstanding.set(sequence, probe);
  const message = Buffer.alloc(8 + PAYLOAD.length);
  message[0] = ICMP_ECHO_REQUEST;
  message.writeUInt16BE(identifier, 4);
  message.writeUInt16BE(sequence, 6);
  PAYLOAD.copy(message, 8);
  raw.writeChecksum(message, 2, raw.createChecksum(message));
  sock.send(message, 0, message.length, probe.ip, (err) => {
    if (err) probe.settle(new Error(`ICMP echo to ${probe.ip} failed: ${err.message}`, { cause: err }));
  });
}

function allocateSequence(): number {
  // 65536 sequences against a handful of concurrent probes: a free one is near.
  for (;;) {
    const sequence = nextSequence;
    nextSequence = (nextSequence + 1) & 0xffff;
    if (!outstanding.has(sequence)) return sequence;
  }
}

function onMessage(packet: Buffer, source: string): void {
  // IPv4 raw sockets deliver the IP header too.
  if (packet.length < 20) return;
  const icmp = (packet[0] & 0x0f) * 4;
  if (packet.length < icmp + 8 || packet[icmp] !== ICMP_ECHO_REPLY || packet[icmp + 1] !== 0) return;
  if (packet.readUInt16BE(icmp + 4) !== identifier) return;
  const probe = outstanding.get(packet.readUInt16BE(icmp + 6));
  if (probe && probe.ip === source) probe.settle(true);
}

function openSocket(raw: RawSocketModule): RawSocket {
  if (socket) return socket;
  let sock: RawSocket;
  try {
    sock = raw.createSocket({ protocol: raw.Protocol.ICMP, addressFamily: raw.AddressFamily.IPv4 });
  } catch (err) {
    const message = (err as Error).message;
    if (/not permitted|permission denied/i.test(message)) {
      throw Object.assign(
        new Error(
          'ICMP probing needs CAP_NET_RAW: run as root, or grant the capability ' +
            '(systemd AmbientCapabilities=CAP_NET_RAW, or setcap cap_net_raw+ep on node)',
          { cause: err },
        ),
        { code: 'EPERM' },
      );
    }
    throw new Error(`cannot open an ICMP raw socket: ${message}`, { cause: err });
  }
  sock.on('message', onMessage);
  sock.on('error', (err: Error) => {
    // raw-socket closes the socket after an error; fail whoever was waiting on it.
    if (socket === sock) socket = undefined;
    const failure = new Error(`ICMP raw socket failed: ${err.message}`, { cause: err });
    for (const probe of new Set(outstanding.values())) probe.settle(failure);
  });
  socket = sock;
  return sock;
}

function closeSocket(): void {
  const sock = socket;
  socket = undefined;
  sock?.close();
}

/**
 * A dynamic import with a literal specifier, not createRequire(): esbuild follows
 * it into the single-file bundle (build/bundle.mjs then ships raw.node beside it),
 * while loading stays lazy so a process that never probes never loads raw.node.
 */
function loadRawSocket(): Promise<RawSocketModule> {
  // @ts-expect-error raw-socket ships no type declarations; RawSocketModule describes what we use.
  rawSocketModule ??= import('raw-socket').then(
    (module: { default: RawSocketModule }) => module.default,
    (err: Error) => {
      rawSocketModule = undefined; // let a later probe try again
      throw new Error(`cannot load raw-socket for ICMP probing: ${err.message}`, { cause: err });
    },
  );
  return rawSocketModule;
}
