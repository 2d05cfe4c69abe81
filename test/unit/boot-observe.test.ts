import { describe, expect, it } from 'vitest';
import { AddressBook } from '../../firmware/src/boot-tracking/address-book.js';
import { BootObservations, roleOf, type ProfileFiles } from '../../firmware/src/boot-tracking/observe.js';
import type { BootObservation, ClientClass } from '../../firmware/src/model/boot.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

const MAC = '52:54:00:00:00:01';
const BIOS: ClientClass = { kind: 'bios-pxe', arch: 0, isIpxe: false, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };

const TOKEN = 'c'.repeat(32);

function setup(slow?: (ip: string) => Promise<string | undefined>, files: ProfileFiles | null = { kernel: 'vmlinuz', initrds: ['initrd.img'] }) {
  const seen: BootObservation[] = [];
  const counters = new Counters();
  const addresses = new AddressBook({ slowFallback: slow });
  const observations = new BootObservations({
    observe: (obs) => seen.push(obs),
    addresses,
    clock: { now: () => 1000 },
    counters,
    log: silentLogger,
    profileFilesOf: () => files ?? undefined,
    tokenMatches: (mac, token) => mac === MAC && token === TOKEN,
  });
  return { seen, counters, addresses, observations };
}

describe('boot observations', () => {
  it("never attributes HTTP to a ?mac= the server did not attribute, and marks downloads carrying the node's token", () => {
    const { seen, observations } = setup();
    observations.dhcp({ type: 'ack', mac: MAC, xid: 7, ip: '10.0.0.5', client: BIOS, bootFile: 'undionly.kpxe' });
    observations.dhcp({ type: 'ack', mac: '52:54:00:00:00:66', xid: 8, ip: '10.0.0.66', client: BIOS, bootFile: 'undionly.kpxe' });
    seen.length = 0;
    // The server's events for a forged `?mac=VICTIM&profile=nope` (404) and a forged script: no MAC, so nothing for the victim.
    observations.http({ type: 'ipxe-script', status: 404, remote: '10.0.0.66' });
    observations.http({ type: 'ipxe-script', status: 200, profile: 'compute', remote: '10.0.0.66', mac: '52:54:00:00:00:66', name: 'x' });
    expect(seen.map((o) => o.mac)).toEqual(['52:54:00:00:00:66']);
    seen.length = 0;
    const get = (remote: string, token?: string) =>
      observations.http({
        type: 'http-download',
        path: '/initrd.img',
        method: 'GET',
        status: 200,
        bytes: 1,
        complete: true,
        ms: 1,
        remote,
        ...(token && { token }),
      });
    get('10.0.0.5', TOKEN);
    get('10.0.0.5');
    get('10.0.0.5', 'd'.repeat(32));
    get('10.0.0.66', TOKEN);
    expect(seen.map((o) => [o.mac, o.kind === 'http_download' && o.withToken])).toEqual([
      [MAC, true],
      [MAC, false],
      [MAC, false],
      ['52:54:00:00:00:66', false],
    ]);
  });

  it('names GRUB over TFTP: its configurations are the script, the kernel and initrds by role; a local profile ends at its configuration', () => {
    const { seen, observations } = setup();
    observations.dhcp({ type: 'ack', mac: MAC, xid: 7, ip: '10.0.0.5', client: BIOS, bootFile: 'shimx64.efi' });
    const done = (filename: string) => observations.tftp({ type: 'done', bytes: 1, ms: 1, retransmits: 0, client: '10.0.0.5', port: 2000, filename });
    observations.tftp({ type: 'request', options: {}, client: '10.0.0.5', port: 2000, filename: '/grub/grub.cfg' });
    for (const file of ['grubx64.efi', '/grub/grub.cfg', `/grub/node-${MAC}.cfg`, '/vmlinuz', '/initrd.img']) done(file);
    expect(seen.slice(1).map((o) => [o.kind, 'role' in o ? o.role : undefined, 'final' in o ? o.final : undefined])).toEqual([
      ['tftp_request', 'script', undefined],
      ['tftp_done', undefined, undefined],
      ['tftp_done', 'script', undefined],
      ['tftp_done', 'script', undefined],
      ['tftp_done', 'kernel', undefined],
      ['tftp_done', 'initrd', true],
    ]);
    const local = setup(undefined, null);
    local.observations.dhcp({ type: 'ack', mac: MAC, xid: 7, ip: '10.0.0.5', client: BIOS, bootFile: 'shimx64.efi' });
    local.observations.tftp({ type: 'done', bytes: 1, ms: 1, retransmits: 0, client: '10.0.0.5', port: 2000, filename: `/grub/node-${MAC}.cfg` });
    expect(local.seen.at(-1)).toMatchObject({ kind: 'tftp_done', role: 'script', final: true });
  });

  it('attributes TFTP and HTTP to the MAC that the DHCP ACK gave the address to', () => {
    const { seen, observations } = setup();
    observations.dhcp({ type: 'discover', mac: MAC, xid: 7, client: BIOS });
    observations.dhcp({ type: 'ack', mac: MAC, xid: 7, ip: '10.0.0.5', client: BIOS, bootFile: 'undionly.kpxe' });
    observations.tftp({ type: 'request', options: { tsize: '0' }, client: '10.0.0.5', port: 2070, filename: 'undionly.kpxe' });
    observations.tftp({
      type: 'failed',
      reason: 'aborted',
      detail: 'tsize probe',
      lastBlockAcked: 0,
      retransmits: 0,
      client: '10.0.0.5',
      port: 2070,
      filename: 'undionly.kpxe',
    });
    observations.tftp({ type: 'done', bytes: 70000, ms: 120, retransmits: 1, client: '10.0.0.5', port: 2071, filename: 'undionly.kpxe' });
    observations.http({ type: 'http-download', path: '/vmlinuz', method: 'GET', status: 200, bytes: 10, complete: true, ms: 5, remote: '10.0.0.5' });
    observations.http({ type: 'http-download', path: '/initrd.img', method: 'GET', status: 200, bytes: 10, complete: false, ms: 5, remote: '10.0.0.5' });
    expect(seen.map((o) => o.kind)).toEqual(['dhcp_discover', 'dhcp_ack', 'tftp_request', 'tftp_failed', 'tftp_done', 'http_download', 'http_download']);
    expect(seen.every((o) => o.mac === MAC)).toBe(true);
    expect(seen[3]).toMatchObject({ reason: 'aborted_probe' });
    expect(seen[5]).toMatchObject({ role: 'kernel', final: false, complete: true });
    expect(seen[6]).toMatchObject({ role: 'initrd', final: true, complete: false });
  });

  it('learns addresses from ARP senders (proxy mode) and reports requests', () => {
    const { seen, observations } = setup();
    observations.arp({ op: 1, senderMac: MAC, senderIp: '192.168.1.50', targetMac: '00:00:00:00:00:00', targetIp: '192.168.1.1' });
    observations.tftp({ type: 'request', options: {}, client: '192.168.1.50', port: 1000, filename: 'x' });
    expect(seen.map((o) => [o.kind, o.mac])).toEqual([
      ['arp_request', MAC],
      ['tftp_request', MAC],
    ]);
  });

  it("keeps a node's order while waiting for the neighbour table, and counts what stays unknown", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { seen, counters, observations } = setup(async (ip) => {
      await gate;
      return ip === '10.0.0.9' ? MAC : undefined;
    });
    observations.tftp({ type: 'request', options: {}, client: '10.0.0.9', port: 1, filename: 'a' });
    observations.tftp({ type: 'done', bytes: 1, ms: 1, retransmits: 0, client: '10.0.0.9', port: 1, filename: 'a' });
    observations.tftp({ type: 'request', options: {}, client: '10.0.0.10', port: 1, filename: 'b' });
    expect(seen).toEqual([]);
    release();
    await observations.settled();
    expect(seen.map((o) => o.kind)).toEqual(['tftp_request', 'tftp_done']);
    expect(counters.get('boot.unattributed.tftp')).toBe(1);
  });

  it("names roles by the profile's files", () => {
    expect(roleOf('/boot/vmlinuz', { kernel: 'boot/vmlinuz', initrds: [] })).toEqual({ role: 'kernel', final: true });
    expect(roleOf('/a.img', { kernel: 'k', initrds: ['a.img', 'b.img'] })).toEqual({ role: 'initrd', final: false });
    expect(roleOf('/b.img', { kernel: 'k', initrds: ['a.img', 'b.img'] })).toEqual({ role: 'initrd', final: true });
    expect(roleOf('/other', { kernel: 'k', initrds: [] })).toEqual({ role: 'other', final: false });
    expect(roleOf('/k', undefined)).toEqual({ role: 'other', final: false });
  });

  it('bounds the address book', () => {
    const book = new AddressBook({ capacity: 2 });
    book.learn('10.0.0.1', 'aa:aa:aa:aa:aa:01');
    book.learn('10.0.0.2', 'aa:aa:aa:aa:aa:02');
    book.learn('10.0.0.3', 'aa:aa:aa:aa:aa:03');
    expect(book.size).toBe(2);
    expect(book.lookup('10.0.0.1')).toBeUndefined();
    expect(book.lookup('10.0.0.3')).toBe('aa:aa:aa:aa:aa:03');
    expect(book.addressOf('aa:aa:aa:aa:aa:01')).toBeUndefined();
    book.learn('10.0.0.9', 'aa:aa:aa:aa:aa:03'); // moved to a new address
    expect(book.addressOf('aa:aa:aa:aa:aa:03')).toBe('10.0.0.9');
    book.learn('10.0.0.9', 'aa:aa:aa:aa:aa:04'); // and someone else took it
    expect(book.addressOf('aa:aa:aa:aa:aa:03')).toBeUndefined();
  });
});
