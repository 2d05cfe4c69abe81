// A hostile host on the boot network, over HTTP only, against a real rackboot:
// forged `?mac=` script requests, a forged booted callback, an unknown machine
// under `hold`, and a DHCP host name made to add kernel arguments. The victim
// and the attacker each hold a real udhcpc lease in their own namespace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { RackbootEvent } from '../../firmware/src/model/event.js';
import { ApiClient } from '../helpers/api-client.js';
import { waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.93.0.1';
const VICTIM = '52:54:00:93:00:01';
const ATTACKER = '52:54:00:93:00:66';
const STRANGER = '52:54:00:93:00:77';
const EVIL_NAMED = '52:54:00:93:00:88';
/** iPXE's user class (option 77, "iPXE"): the victim's DHCP is a boot. */
const IPXE_IDENTITY = ['-x', '0x4d:69505845'];

describe('forged HTTP requests from another host on the boot network', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  let victim: Netns;
  let attacker: Netns;
  let victimIp: string;
  let attackerIp: string;

  async function leased(ns: Netns, label: string, extra: string[]): Promise<string> {
    const { script, events } = await lab.clientScript('udhcpc', label);
    ns.spawn(['udhcpc', '-f', '-i', 'eth0', '-t', '20', '-T', '2', '-A', '1', '-s', script, ...extra]);
    return (await waitForEvent(events, /^bound /, 30_000)).split(' ')[1];
  }

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      files: {
        vmlinuz: randomBytes(64 * 1024),
        'initrd.img': randomBytes(64 * 1024),
        'rescue-vmlinuz': randomBytes(64 * 1024),
        'rescue-initrd.img': randomBytes(64 * 1024),
      },
      yaml: ({ root }) => `
interface: eth0
pools:
  - subnet: 10.93.0.0/24
    range: 10.93.0.100-10.93.0.150
hosts:
  - { mac: "${VICTIM}", hostname: victim }
  - { mac: "${ATTACKER}", hostname: atk }
boot:
  root: ${root}
  profiles:
    default: { kind: linux, kernel: vmlinuz, initrds: [initrd.img], cmdline: "console=ttyS0 node={name}" }
    rescue: { kind: linux, kernel: rescue-vmlinuz, initrds: [rescue-initrd.img], cmdline: "console=ttyS0 rescue" }
    disk: { kind: local }
`,
    }));
    api = await ApiClient.setUp(await lab.client(undefined, '10.93.0.9/24'), `http://${SERVER}`, server);
    victim = await lab.client(VICTIM);
    attacker = await lab.client(ATTACKER);
    victimIp = await leased(victim, 'victim', IPXE_IDENTITY);
    attackerIp = await leased(attacker, 'attacker', []);
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  const curl = async (ns: Netns, path: string): Promise<{ status: number; body: string }> => {
    const out = await ns.exec(['curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', `http://${SERVER}${path}`]);
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
  };
  const victimEvents = async (): Promise<RackbootEvent[]> => api.timeline(VICTIM);
  const tokenIn = (script: string): string | undefined => /[?&]token=([0-9a-f]{32})/.exec(script)?.[1];
  async function waitForNextBoot(expected: string | undefined): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await api.node(VICTIM)).nextBootProfile !== expected) {
      if (Date.now() > deadline) throw new Error(`nextBootProfile is still ${(await api.node(VICTIM)).nextBootProfile}, expected ${expected}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const settle = () => new Promise((r) => setTimeout(r, 1500));

  it("a forged ?mac=VICTIM&profile=nope creates nothing on the victim; a forged ?mac=VICTIM gets the attacker's own script, without a token", async () => {
    expect((await api.node(VICTIM)).stage).not.toBe('off'); // its boot is under way
    const before = (await victimEvents()).length;

    for (let i = 0; i < 3; i++) expect((await curl(attacker, `/boot.ipxe?mac=${VICTIM}&profile=nope`)).status).toBe(404);
    await settle();
    expect((await victimEvents()).slice(before).map((e) => e.message)).toEqual([]);
    expect((await api.node(VICTIM)).diagnosis).toBeUndefined();

    const forged = await curl(attacker, `/boot.ipxe?mac=${VICTIM}`);
    expect(forged.status).toBe(200);
    await settle();
    expect((await victimEvents()).slice(before).map((e) => e.message)).toEqual([]);
    expect(forged.body).toContain(`node atk (${ATTACKER}, ${attackerIp})`);
    expect(forged.body).not.toContain(VICTIM);
    expect(tokenIn(forged.body)).toBeUndefined();

    // Counted on /metrics, and reported once, on the attacker's node.
    const metrics = await api.request<string>('GET', '/metrics');
    expect(String(metrics.body)).toMatch(/rackboot_counter_total\{name="boot\.mac_mismatch"\} [1-9]/);
    const reported = (await api.get<RackbootEvent[]>('/api/v1/events')).filter((e) => e.detail?.reason === 'mac_mismatch');
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({ mac: ATTACKER, node: 'atk' });

    // The victim's own request gets its script, with a token on every URL it fetches.
    const own = await curl(victim, `/boot.ipxe?mac=${VICTIM}`);
    const token = tokenIn(own.body);
    expect(token).toBeDefined();
    expect(own.body).toContain(`kernel http://${SERVER}/vmlinuz?token=${token} `);
    expect(own.body).toContain(`rackboot.booted=http://${SERVER}/api/v1/booted?mac=${VICTIM}&token=${token} `);
    expect(own.body).toContain(`node victim (${VICTIM}, ${victimIp})`);
    expect(own.body).toContain('node=victim');
  }, 60_000);

  it('a forged script request does not consume the victim’s one-shot profile; the victim’s own boot does', async () => {
    // A profile without files ends at its script: only the victim's own script.
    expect((await api.request('POST', `/api/v1/nodes/victim/next-boot`, { profile: 'disk' })).status).toBe(200);
    const forgedDisk = await curl(attacker, `/boot.ipxe?mac=${VICTIM}`);
    await settle();
    expect((await api.node(VICTIM)).nextBootProfile).toBe('disk');
    expect(forgedDisk.body).not.toContain('sanboot');
    expect((await curl(victim, `/boot.ipxe?mac=${VICTIM}`)).body).toContain('sanboot');
    await waitForNextBoot(undefined);

    // A profile with files ends at the last file fetched with the boot's token.
    expect((await api.request('POST', `/api/v1/nodes/victim/next-boot`, { profile: 'rescue' })).status).toBe(200);
    const forged = await curl(attacker, `/boot.ipxe?mac=${VICTIM}`);
    expect(forged.body).not.toContain('rescue');
    for (const file of ['rescue-vmlinuz', 'rescue-initrd.img', `rescue-initrd.img?token=${'0'.repeat(32)}`]) {
      expect((await curl(attacker, `/${file}`)).status).toBe(200);
    }
    await settle();
    expect((await api.node(VICTIM)).nextBootProfile).toBe('rescue');
    const own = await curl(victim, `/boot.ipxe?mac=${VICTIM}`);
    const token = tokenIn(own.body)!;
    expect(own.body).toContain(`kernel http://${SERVER}/rescue-vmlinuz?token=${token} `);
    // The victim's downloads without the token (not from its script) end nothing either.
    await curl(victim, '/rescue-initrd.img');
    await settle();
    expect((await api.node(VICTIM)).nextBootProfile).toBe('rescue');
    await curl(victim, `/rescue-vmlinuz?token=${token}`);
    await curl(victim, `/rescue-initrd.img?token=${token}`);
    await waitForNextBoot(undefined);
  }, 60_000);

  it('a forged booted callback without the token is 403 and confirms nothing, even when forged ARP ties the attacker’s address to the victim', async () => {
    const own = await curl(victim, `/boot.ipxe?mac=${VICTIM}`);
    const token = tokenIn(own.body)!;
    // The attacker makes rackboot's address book say the victim is at the attacker's address
    // (a gratuitous ARP with the victim's MAC). The kernel's entry for the attacker is pinned,
    // so its TCP still works: only what rackboot learned from the link is forged.
    await lab.server.exec(['ip', 'neigh', 'replace', attackerIp, 'lladdr', ATTACKER, 'dev', 'eth0', 'nud', 'permanent']);
    await forgeArp(attacker, VICTIM, attackerIp);
    await settle();
    expect((await api.node(VICTIM)).currentIp).toBe(attackerIp);

    for (const query of [`mac=${VICTIM}`, `mac=${VICTIM}&token=${'f'.repeat(32)}`, `mac=${VICTIM}&token=`]) {
      const forged = await curl(attacker, `/api/v1/booted?${query}`);
      expect(forged.status, query).toBe(403);
    }
    await settle();
    const node = await api.node(VICTIM);
    expect(node.stage).not.toBe('booted');
    expect(node.booted).toBe(0);

    // The token holder's callback confirms the boot.
    expect((await curl(victim, `/api/v1/booted?mac=${VICTIM}&token=${token}`)).status).toBe(204);
    await api.waitForNode(VICTIM, (n) => n.stage === 'booted', 10_000);
  }, 60_000);

  it('under hold, a script request from an unknown MAC is 403 and the MAC becomes a held node', async () => {
    expect((await api.request('PATCH', '/api/v1/config', { unknownNodes: 'hold' })).status).toBe(200);
    const stranger = await lab.client(STRANGER, '10.93.0.77/24');
    const refused = await curl(stranger, `/boot.ipxe?mac=${STRANGER}`);
    expect(refused.status).toBe(403);
    expect(refused.body).not.toContain('#!ipxe');
    const held = await api
      .waitForNode(STRANGER, () => true, 10_000)
      .catch(async () => {
        await settle();
        return api.node(STRANGER);
      });
    expect(held).toMatchObject({ origin: 'discovered', approved: false });
    expect((await curl(stranger, '/boot.ipxe')).status).toBe(403);
    expect((await api.request('POST', `/api/v1/nodes/${STRANGER}/approve`)).status).toBe(200);
    expect((await curl(stranger, `/boot.ipxe?mac=${STRANGER}`)).body).toContain('#!ipxe');
    expect((await api.request('PATCH', '/api/v1/config', { unknownNodes: 'boot' })).status).toBe(200);
  }, 60_000);

  it('a DHCP host name (option 12) that is not an RFC 1123 label never reaches a script', async () => {
    const evil = await lab.client(EVIL_NAMED);
    const name = 'x init=/bin/sh ${net0/ip}';
    await leased(evil, 'evil', ['-x', `0x0c:${Buffer.from(name).toString('hex')}`]);
    expect((await api.get<{ mac: string; hostname?: string }[]>('/api/v1/leases')).find((l) => l.mac === EVIL_NAMED)?.hostname).toBe(name);
    const script = (await curl(evil, '/boot.ipxe')).body;
    expect(script).toContain(`node=node-${EVIL_NAMED.replace(/:/g, '')}`);
    expect(script).not.toContain('init=/bin/sh');
    expect(script).not.toContain('x init');
  }, 60_000);
});

/** One gratuitous ARP request on `ns`'s eth0 saying `ip` is at `mac`, from a raw packet socket. */
async function forgeArp(ns: Netns, mac: string, ip: string): Promise<void> {
  const program = `
import socket, sys
mac = bytes.fromhex(sys.argv[1].replace(':', ''))
ip = socket.inet_aton(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('eth0', 0))
arp = bytes([0, 1, 8, 0, 6, 4, 0, 1]) + mac + ip + bytes(6) + ip
s.send(b'\\xff' * 6 + mac + b'\\x08\\x06' + arp)
`;
  await ns.exec(['python3', '-c', program, mac, ip]);
}
