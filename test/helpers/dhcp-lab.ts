// A DHCP lab: rackboot (the real bundle) in a server namespace on a bridge,
// and client namespaces running real DHCP clients (dhclient, udhcpc) whose
// scripts log each event to a file the test reads.
import { mkdtemp, readFile, writeFile, chmod, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, type Netns, type Segment } from './netns.js';
import { RackbootProcess, REPO } from './rackboot-process.js';

export const SERVER_IP = '10.77.0.1';

export class DhcpLab {
  private clients = 0;

  private constructor(
    readonly lab: Lab,
    readonly segment: Segment,
    readonly server: Netns,
    readonly dir: string,
  ) {}

  static async create(serverIfAddress = `${SERVER_IP}/24`): Promise<DhcpLab> {
    const lab = await Lab.create();
    const server = await lab.namespace('srv');
    const segment = await lab.bridge([{ ns: server, ifname: 'eth0', address: serverIfAddress }]);
    const dir = await mkdtemp(join(tmpdir(), 'rackboot-lab-'));
    return new DhcpLab(lab, segment, server, dir);
  }

  /** Writes a YAML config into the lab directory and returns its path. */
  async writeConfig(yaml: string, name = 'rackboot.yaml'): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, yaml);
    return path;
  }

  /** Starts rackboot in the server namespace with its state in the lab directory. */
  startServer(args: string[]): Promise<RackbootProcess> {
    return RackbootProcess.start(this.server.name, ['serve', ...args, '--state-dir', join(this.dir, 'state')]);
  }

  /** A new namespace on the segment with an unaddressed eth0 (optionally with a fixed MAC). */
  async client(mac?: string, address?: string): Promise<Netns> {
    const ns = await this.lab.namespace(`c${++this.clients}`);
    await this.segment.attach({ ns, ifname: 'eth0', address: address ?? null });
    if (mac) {
      await ns.exec(['ip', 'link', 'set', 'eth0', 'down']);
      await ns.exec(['ip', 'link', 'set', 'eth0', 'address', mac]);
      await ns.exec(['ip', 'link', 'set', 'eth0', 'up']);
    }
    return ns;
  }

  /**
   * A client script that forwards to test/helpers/<kind>-script.sh with the
   * events file set (dhclient does not pass its own environment to the script).
   */
  async clientScript(kind: 'dhclient' | 'udhcpc', label: string): Promise<{ script: string; events: string }> {
    const events = join(this.dir, `${label}.events`);
    const script = join(this.dir, `${label}-script.sh`);
    await writeFile(script, `#!/bin/sh\nRACKBOOT_TEST_EVENTS='${events}' exec '${join(REPO, 'test', 'helpers', `${kind}-script.sh`)}' "$@"\n`);
    await chmod(script, 0o755);
    return { script, events };
  }

  /**
   * The site's own DHCP server for proxyDHCP tests: dnsmasq handing out addresses
   * from `range` ("10.78.0.100,10.78.0.150") on `ns`'s eth0, knowing nothing of booting.
   */
  startSiteDhcpServer(ns: Netns, range: string): string {
    const leaseFile = join(this.dir, 'dnsmasq.leases');
    ns.spawn([
      'dnsmasq',
      '--no-daemon',
      '--conf-file=/dev/null',
      '--port=0',
      '--user=root',
      '--interface=eth0',
      '--bind-interfaces',
      `--dhcp-range=${range},255.255.255.0,1h`,
      `--dhcp-leasefile=${leaseFile}`,
      `--pid-file=${join(this.dir, 'dnsmasq.pid')}`,
      '--log-dhcp',
      '--log-facility=-',
    ]);
    return leaseFile;
  }

  async destroy(): Promise<void> {
    await this.lab.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Event lines written by the client scripts ("BOUND 10.77.0.100 255.255.255.0 20 host="). */
export async function readEvents(path: string): Promise<string[]> {
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
}

/** Polls the events file until a line matches. */
export async function waitForEvent(path: string, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = (await readEvents(path)).find((line) => pattern.test(line));
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no event matching ${pattern} within ${timeoutMs} ms; events: ${JSON.stringify(await readEvents(path))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
