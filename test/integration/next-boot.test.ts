// A one-shot next-boot profile on a real rackboot: set through the API, it
// stays through a kernel download cut half-way (iPXE retries the script and
// must boot the rescue profile again), and is cleared once the profile's last
// file has arrived whole with the boot's token (from the node's own script);
// the boot after that is the node's own profile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { ApiClient } from '../helpers/api-client.js';
import { waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.89.0.1';
const NODE = '52:54:00:89:00:07';
/** iPXE's user class (option 77, "iPXE"). */
const IPXE_IDENTITY = ['-x', '0x4d:69505845'];

describe('next-boot profile', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  let node: Netns;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      files: {
        vmlinuz: randomBytes(1024 * 1024),
        'initrd.img': randomBytes(1024 * 1024),
        'rescue-vmlinuz': randomBytes(1024 * 1024),
        // Larger than the socket buffers of both ends, so a cut connection cannot have been handed the whole file.
        'rescue-initrd.img': randomBytes(64 * 1024 * 1024),
      },
      yaml: ({ root }) => `
interface: eth0
pools:
  - subnet: 10.89.0.0/24
    range: 10.89.0.100-10.89.0.150
hosts:
  - { mac: "${NODE}", hostname: n7 }
boot:
  root: ${root}
  profiles:
    default: { kind: linux, kernel: vmlinuz, initrds: [initrd.img], cmdline: "console=ttyS0" }
    rescue: { kind: linux, kernel: rescue-vmlinuz, initrds: [rescue-initrd.img], cmdline: "console=ttyS0 rescue" }
`,
    }));
    api = await ApiClient.setUp(await lab.client(undefined, '10.89.0.9/24'), `http://${SERVER}`, server);
    node = await lab.client(NODE);
    const { script, events } = await lab.clientScript('udhcpc', 'n7');
    node.spawn(['udhcpc', '-f', '-i', 'eth0', '-t', '20', '-T', '2', '-A', '1', '-s', script, ...IPXE_IDENTITY]);
    await waitForEvent(events, /^bound /, 30_000);
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  /** The token of the node's last script: its kernel and initrd URLs carry it. */
  let token = '';
  const script = async () => {
    const text = await node.exec(['curl', '-sSf', `http://${SERVER}/boot.ipxe?mac=${NODE}`]);
    token = /\?token=([0-9a-f]{32})/.exec(text)?.[1] ?? '';
    return text;
  };
  const fetch = (file: string) => node.exec(['curl', '-sSf', '-o', '/dev/null', `http://${SERVER}/${file}?token=${token}`]);

  async function waitForNextBoot(expected: string | undefined): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await api.node(NODE)).nextBootProfile !== expected) {
      if (Date.now() > deadline) throw new Error(`nextBootProfile is still ${(await api.node(NODE)).nextBootProfile}, expected ${expected}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('survives a cut download and the retry, and is cleared once the boot files arrived', async () => {
    const set = await api.request('POST', `/api/v1/nodes/n7/next-boot`, { profile: 'rescue' });
    expect(set.status).toBe(200);
    expect(await script()).toContain(`kernel http://${SERVER}/rescue-vmlinuz`);
    await fetch('rescue-vmlinuz');
    await node.exec(['sh', '-c', `curl -sS --limit-rate 500K --max-time 1 -o /dev/null 'http://${SERVER}/rescue-initrd.img?token=${token}'; true`]);
    // iPXE's retry after the failed download: still the rescue boot.
    expect(await script()).toContain(`kernel http://${SERVER}/rescue-vmlinuz`);
    expect((await api.node(NODE)).nextBootProfile).toBe('rescue');
    await fetch('rescue-vmlinuz');
    await fetch('rescue-initrd.img');
    await waitForNextBoot(undefined);
    expect(await script()).toContain(`kernel http://${SERVER}/vmlinuz`);
    const cleared = (await api.timeline(NODE)).filter((e) => e.type === 'node.updated' && e.by === 'boot');
    expect(cleared).toHaveLength(1);
  }, 60_000);
});
