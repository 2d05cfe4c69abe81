// Turns what the DHCP, TFTP and HTTP servers report into boot observations
// (inventory/types.ts) for the boot tracker: attributes each one to a node's
// MAC, names the file's role in the node's profile (kernel, initrd), and keeps
// the order of a node's observations even when attribution has to wait for
// the kernel's neighbour table. Observations nobody can attribute are counted
// (boot.unattributed.<protocol>) and dropped. HTTP requests are attributed by
// the requester's address only: a script event names a MAC only when the HTTP
// server attributed it that way (boot-policy/nodes.ts), never from `?mac=`.

import type { ArpPacket } from '../net/arp.js';
import type { Ipv4, Mac } from '../net/addr.js';
import type { DhcpEvent } from '../dhcp/server.js';
import type { TftpEvent } from '../tftp/server.js';
import type { HttpEvent } from '../http/server.js';
import type { BootObservation, TftpRole } from '../model/boot.js';
import type { Clock } from '../util/clock.js';
import type { Counters } from '../util/counters.js';
import type { Logger } from '../util/log.js';
import type { AddressBook } from './address-book.js';
import { grubFileName } from '../boot-policy/grub-config.js';

export interface ProfileFiles {
  kernel: string;
  initrds: string[];
}

export interface BootObserverOptions {
  observe(obs: BootObservation): void;
  addresses: AddressBook;
  clock: Clock;
  counters: Counters;
  log: Logger;
  /** The kernel and initrds the node boots (paths under the boot root), when its profile is a linux one. */
  profileFilesOf(mac: Mac): ProfileFiles | undefined;
  /** Whether `token` is the node's current boot token (boot-policy/boot-token.ts). */
  tokenMatches?(mac: Mac, token: string | undefined): boolean;
}

export class BootObservations {
  /** Per client address: observations waiting for a slow attribution, so they reach the tracker in order. */
  private readonly pending = new Map<Ipv4, Promise<void>>();

  constructor(private readonly opts: BootObserverOptions) {}

  dhcp(event: DhcpEvent): void {
    const at = this.opts.clock.now();
    const { mac } = event;
    const firmware = event.client.kind;
    const ipxe = event.client.isIpxe;
    const arch = event.client.arch !== undefined ? { arch: event.client.arch } : {};
    if (event.ip && (event.type === 'ack' || event.type === 'request' || event.type === 'inform')) this.opts.addresses.learn(event.ip, mac);
    switch (event.type) {
      case 'discover':
        return this.emit({ kind: 'dhcp_discover', mac, at, firmware, ipxe, xid: event.xid, ...arch });
      case 'offer':
      case 'proxy-offer':
        return this.emit({ kind: 'dhcp_offer', mac, at, ip: event.ip, bootFile: event.bootFile, proxy: event.type === 'proxy-offer' });
      case 'request':
        return this.emit({ kind: 'dhcp_request', mac, at, ip: event.ip });
      case 'ack':
      case 'proxy-ack':
        return this.emit({ kind: 'dhcp_ack', mac, at, ip: event.ip, bootFile: event.bootFile, firmware, ipxe, proxy: event.type === 'proxy-ack', ...arch });
      case 'nak':
        return this.emit({ kind: 'dhcp_nak', mac, at });
      default:
        // decline, release, inform: lease matters, not boot stages.
        return;
    }
  }

  arp(packet: ArpPacket): void {
    if (packet.senderIp !== '0.0.0.0') this.opts.addresses.learn(packet.senderIp, packet.senderMac);
    // Requests only: a node stuck at PXE-E11 keeps asking and never gets (or hears) the answer.
    if (packet.op === 1 && packet.targetIp !== packet.senderIp) {
      this.emit({ kind: 'arp_request', mac: packet.senderMac, at: this.opts.clock.now(), target: packet.targetIp });
    }
  }

  tftp(event: TftpEvent): void {
    const at = this.opts.clock.now();
    const file = event.filename;
    this.attribute(event.client, 'tftp', (mac): BootObservation | undefined => {
      // GRUB reads its configuration, the kernel and the initrds over TFTP (boot-policy/grub-config.ts).
      const { role, final } = tftpRoleOf(file, this.opts.profileFilesOf(mac));
      const roleFields = role === undefined ? {} : { role };
      switch (event.type) {
        case 'request':
          return { kind: 'tftp_request', mac, at, file, options: event.options, ...roleFields };
        case 'refused':
          return { kind: 'tftp_failed', mac, at, file, reason: 'refused', detail: `error ${event.code}: ${event.reason}`, lastBlockAcked: 0, retransmits: 0 };
        case 'retransmit':
          return { kind: 'tftp_retransmit', mac, at, file, block: event.block, count: event.count };
        case 'done':
          return { kind: 'tftp_done', mac, at, file, bytes: event.bytes, ms: event.ms, retransmits: event.retransmits, ...roleFields, ...(final && { final }) };
        case 'failed': {
          const reason =
            event.reason === 'timeout'
              ? 'timeout'
              : event.reason === 'client-error' || event.reason === 'illegal-operation'
                ? 'client_error'
                : event.detail === 'tsize probe'
                  ? 'aborted_probe'
                  : 'other';
          return { kind: 'tftp_failed', mac, at, file, reason, detail: event.detail, lastBlockAcked: event.lastBlockAcked, retransmits: event.retransmits };
        }
        default:
          return undefined; // start, options: the request already said it
      }
    });
  }

  http(event: HttpEvent): void {
    const at = this.opts.clock.now();
    if (event.type === 'ipxe-script') {
      if (event.status >= 400 && event.mac === undefined) return;
      const build = (mac: Mac): BootObservation => ({ kind: 'http_script', mac, at, profile: event.profile ?? '', status: event.status });
      if (event.mac) return this.emit(build(event.mac));
      return this.attribute(event.remote, 'http', build);
    }
    if (event.method !== 'GET') return;
    this.attribute(event.remote, 'http', (mac): BootObservation => {
      const { role, final } = roleOf(event.path, this.opts.profileFilesOf(mac));
      return {
        kind: 'http_download',
        mac,
        at,
        path: event.path,
        role,
        final,
        status: event.status,
        bytes: event.bytes,
        complete: event.complete,
        ms: event.ms,
        withToken: this.opts.tokenMatches?.(mac, event.token) ?? false,
      };
    });
  }

  /** Waits for observations still being attributed (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending.values()]);
  }

  private attribute(ip: Ipv4, protocol: string, build: (mac: Mac) => BootObservation | undefined): void {
    const queued = this.pending.get(ip);
    const known = queued ? undefined : this.opts.addresses.lookup(ip);
    if (known) {
      const obs = build(known);
      if (obs) this.emit(obs);
      return;
    }
    const next = (queued ?? Promise.resolve())
      .then(() => this.opts.addresses.resolve(ip))
      .then((mac) => {
        if (!mac) {
          this.opts.counters.inc(`boot.unattributed.${protocol}`);
          return;
        }
        const obs = build(mac);
        if (obs) this.emit(obs);
      })
      .catch((error: unknown) => this.opts.log.warn('could not attribute a boot observation', { ip, error: error as Error }))
      .finally(() => {
        if (this.pending.get(ip) === next) this.pending.delete(ip);
      });
    this.pending.set(ip, next);
  }

  private emit(obs: BootObservation): void {
    try {
      this.opts.observe(obs);
    } catch (error) {
      this.opts.counters.inc('boot.observer_errors');
      this.opts.log.error('boot tracker failed on an observation', { kind: obs.kind, mac: obs.mac, error: error as Error });
    }
  }
}

/**
 * A TFTP file's role: a generated GRUB configuration is the boot script, and a node's
 * own one ends the boot when its profile loads no files (local: GRUB exits to the
 * firmware's next boot option); the profile's files as roleOf says.
 */
function tftpRoleOf(file: string, files: ProfileFiles | undefined): { role?: TftpRole; final: boolean } {
  const grub = grubFileName(file.replace(/^\/+/, ''));
  if (grub !== undefined) return { role: 'script', final: grub.kind === 'node' && files === undefined };
  const { role, final } = roleOf(file, files);
  return role === 'other' ? { final: false } : { role, final };
}

/** Which file of the node's profile a download is; paths compare without their leading slashes. */
export function roleOf(path: string, files: ProfileFiles | undefined): { role: 'kernel' | 'initrd' | 'other'; final: boolean } {
  if (!files) return { role: 'other', final: false };
  const plain = (p: string) => p.replace(/^\/+/, '');
  const wanted = plain(path);
  const last = files.initrds.length > 0 ? files.initrds[files.initrds.length - 1] : files.kernel;
  if (wanted === plain(files.kernel)) return { role: 'kernel', final: plain(last) === wanted };
  if (files.initrds.some((initrd) => plain(initrd) === wanted)) return { role: 'initrd', final: plain(last) === wanted };
  return { role: 'other', final: false };
}
