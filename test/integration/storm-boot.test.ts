// `rackboot storm` against the real rackboot bundle in a namespace lab: the
// storm runs in its own namespace on the same bridge (one macvlan per virtual
// node). 20 nodes of every firmware kind all boot; a node whose DHCP offers
// are dropped on the bridge (nftables) fails the way a PXE ROM does, with
// no_offer after its DISCOVERs at 4, 8, 16 and 32 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import { ExecError } from '../helpers/exec.js';
import type { Netns } from '../helpers/netns.js';
import { runTsInNs } from '../helpers/ts-in-ns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import type { StormReport } from '../../firmware/src/storm/report.js';

const SERVER = '10.91.0.1';
const STORM_ENTRY = {
  name: 'storm-entry.ts',
  source: `import { runStormCli } from './firmware/src/storm/cli.js';\nconst code = await runStormCli(process.argv.slice(2));\nprocess.stdout.write('', () => process.exit(code));\n`,
};

async function storm(ns: Netns, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await runTsInNs(ns, STORM_ENTRY, args, { timeoutMs: 150_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (error instanceof ExecError && error.exitCode !== null) return { code: error.exitCode, stdout: error.stdout, stderr: error.stderr };
    throw error;
  }
}

describe('rackboot storm', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let client: Netns;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      files: { vmlinuz: randomBytes(1024 * 1024), 'initrd.img': randomBytes(2 * 1024 * 1024) },
      args: ({ root }) => ['--interface', 'eth0', '--root', root],
    }));
    client = await lab.client();
  }, 60_000);

  afterAll(async () => {
    await stopRackboot({ lab, server });
  });

  it('boots 20 virtual nodes of every firmware kind, each through its own stages', async () => {
    const json = join(lab.dir, 'storm.json');
    const svg = join(lab.dir, 'storm.svg');
    const run = await storm(client, [
      '--interface',
      'eth0',
      '--nodes',
      '20',
      '--firmware',
      'bios-pxe,uefi-pxe,ipxe,uefi-http',
      '--server',
      SERVER,
      '--json',
      json,
      '--svg',
      svg,
      '--time-limit',
      '90',
    ]);
    console.log(run.stdout);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(await readFile(json, 'utf8')) as StormReport;
    expect(report.summary.booted).toBe(20);
    expect(report.summary.timeToLastBootedMs).toBeGreaterThan(0);
    const stagesOf = (kind: string) => report.nodes.find((n) => n.firmware === kind)!.stages.map((s) => s.stage);
    expect(stagesOf('bios-pxe')).toEqual([
      'power_on',
      'dhcp_discover',
      'offered',
      'acknowledged',
      'nbp_tftp',
      'ipxe_dhcp',
      'script',
      'kernel',
      'initrd',
      'booted',
    ]);
    expect(stagesOf('ipxe')).toEqual(['power_on', 'dhcp_discover', 'offered', 'acknowledged', 'script', 'kernel', 'initrd', 'booted']);
    const undionly = (await readFile('/usr/lib/ipxe/undionly.kpxe')).length;
    for (const node of report.nodes) {
      expect(node.bytes.kernel).toBe(1024 * 1024);
      expect(node.bytes.initrd).toBe(2 * 1024 * 1024);
      if (node.firmware === 'bios-pxe') expect(node.bytes.nbp).toBe(undionly);
    }
    // Every node kept one address across its PXE and iPXE DHCP (rackboot leases by MAC).
    expect(new Set(report.nodes.map((n) => n.ip)).size).toBe(20);
    const picture = await readFile(svg, 'utf8');
    expect(picture).toMatch(/^<svg/);
    expect(picture.match(/<rect [^>]*fill="#8e44ad"/g)?.length).toBeGreaterThanOrEqual(10); // nbp stretches drawn
  }, 150_000);

  it('a node whose offers are dropped fails with no_offer after the PXE DISCOVER schedule', async () => {
    const nft = ['nft', '-f', '-'];
    // Node 0 of MAC byte 0x5a is 02:72:62:5a:00:00; drop what rackboot sends to its port 68.
    await lab.segment.ns.exec(nft, {
      input: `table bridge rbstorm {\n chain drop_offers {\n  type filter hook forward priority 0;\n  ether daddr 02:72:62:5a:00:00 udp dport 68 drop\n }\n}\n`,
    });
    const json = join(lab.dir, 'storm-drop.json');
    const run = await storm(client, [
      '--interface',
      'eth0',
      '--nodes',
      '2',
      '--firmware',
      'bios-pxe',
      '--mac-byte',
      '90',
      '--json',
      json,
      '--quiet',
      '--time-limit',
      '120',
    ]);
    expect(run.code).toBe(1);
    const report = JSON.parse(await readFile(json, 'utf8')) as StormReport;
    const [dropped, other] = report.nodes;
    expect(dropped.mac).toBe('02:72:62:5a:00:00');
    expect(dropped.outcome).toBe('no_offer');
    expect(dropped.detail).toMatch(/PXE-E51/);
    expect(dropped.dhcpTransmissions).toBe(4);
    expect(other.outcome).toBe('booted');
    expect(report.summary.failuresByDiagnosis).toEqual({ no_offer: 1 });
  }, 150_000);
});
