// The serial console's view of the appliance (console/host.ts): the same
// inventory, boot state, leases and power as the API sees (through AppApiHost),
// the admin password, and the few system actions a field engineer needs at the
// rack without a network: the box's own address, reboot and power-off.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { AuthService } from '../auth/index.js';
import type { EventLog } from '../inventory/events.js';
import type { NodeInventory } from '../inventory/nodes.js';
import { interfaceInfo } from '../net/link.js';
import type { ConsoleHost, ManagementTls, NetworkChange, NetworkSettings, PowerAction } from '../console/host.js';
import type { ApplianceStatus, LeaseView, NodeView, PowerResult, ProfileView, RackbootEvent } from '../model/api.js';
import type { AppApiHost } from './api-host.js';
import type { PowerControl } from './power-control.js';

const run = promisify(execFile);

export interface AppConsoleHostOptions {
  api: AppApiHost;
  inventory: NodeInventory;
  events: EventLog;
  power: () => PowerControl;
  auth: AuthService;
  interfaceName: string;
  tls: ManagementTls;
}

export class AppConsoleHost implements ConsoleHost {
  constructor(private readonly opts: AppConsoleHostOptions) {}

  async status(): Promise<ApplianceStatus> {
    return this.opts.api.status();
  }

  async nodes(): Promise<NodeView[]> {
    return this.opts.api.listNodes({});
  }

  async node(id: string): Promise<NodeView | undefined> {
    return this.opts.api.getNode(id);
  }

  async timeline(mac: string): Promise<RackbootEvent[]> {
    return this.opts.events.timeline(mac);
  }

  async leases(): Promise<LeaseView[]> {
    return this.opts.api.leases();
  }

  async power(target: string, action: PowerAction, by: string): Promise<PowerResult[]> {
    if (target === 'all') return this.opts.power().actAll(action, undefined, by);
    const node = this.opts.inventory.require(target);
    return [await this.opts.power().act(node.mac, action, by)];
  }

  async setNextBoot(id: string, profile: string, by: string): Promise<NodeView> {
    const node = this.opts.inventory.require(id);
    return this.opts.api.setNextBoot(node.mac, profile, by);
  }

  async profiles(): Promise<ProfileView[]> {
    return this.opts.api.profiles();
  }

  subscribeEvents(listener: (event: RackbootEvent) => void): () => void {
    return this.opts.events.subscribe(listener);
  }

  async network(): Promise<NetworkSettings> {
    const info = interfaceInfo(this.opts.interfaceName);
    const first = info.ipv4[0];
    const gateway = await defaultGateway(this.opts.interfaceName);
    return {
      interface: this.opts.interfaceName,
      ...(first && { address: first.address, prefix: first.prefix }),
      ...(gateway && { gateway }),
    };
  }

  /**
   * Replaces the interface's address (and default route) with `ip`. rackboot's
   * DHCP, TFTP and HTTP keep the address they started with until it restarts,
   * and the appliance's network file (written from rackboot.yaml) sets the old one
   * again at the next boot: the console says both.
   */
  async setNetwork(change: NetworkChange, by: string): Promise<void> {
    const dev = this.opts.interfaceName;
    const wanted = `${change.address}/${change.prefix}`;
    const current = interfaceInfo(dev).ipv4.map((a) => `${a.address}/${a.prefix}`);
    const old = current.filter((a) => a !== wanted);
    try {
      // The old addresses go first: deleting a primary address also deletes the
      // secondaries of its subnet (unless promote_secondaries is set), so the new
      // one cannot be added beside it and the old one removed afterwards.
      for (const address of old) await run('ip', ['-4', 'addr', 'del', address, 'dev', dev]);
      if (!current.includes(wanted)) await run('ip', ['-4', 'addr', 'add', wanted, 'dev', dev]);
      if (change.gateway) await run('ip', ['-4', 'route', 'replace', 'default', 'via', change.gateway, 'dev', dev]);
    } catch (error) {
      // Put back what the box had, so a refused change never leaves it without an address.
      if (!current.includes(wanted)) await run('ip', ['-4', 'addr', 'del', wanted, 'dev', dev]).catch(() => undefined);
      for (const address of old) await run('ip', ['-4', 'addr', 'add', address, 'dev', dev]).catch(() => undefined);
      const text = String((error as { stderr?: string }).stderr || (error as Error).message).trim();
      throw new Error(
        /Operation not permitted|EPERM/.test(text)
          ? `rackboot may not change ${dev}'s address (it needs CAP_NET_ADMIN); set server_address in the configuration instead`
          : `could not set the address: ${text}`,
        { cause: error },
      );
    }
    this.opts.events.append({
      type: 'config',
      message: `${dev} address set to ${change.address}/${change.prefix}${change.gateway ? ` via ${change.gateway}` : ''}; restart rackboot to serve on it`,
      by,
      detail: { ...change },
    });
  }

  async tls(): Promise<ManagementTls> {
    return this.opts.tls;
  }

  async isSetupDone(): Promise<boolean> {
    return this.opts.auth.state().setupDone;
  }

  async setupToken(): Promise<string | undefined> {
    return this.opts.auth.setupToken();
  }

  async verifyPassword(password: string): Promise<boolean> {
    return this.opts.auth.verifyPassword(password);
  }

  async setPassword(password: string, by: string, firstSetup = false): Promise<void> {
    await (firstSetup ? this.opts.auth.setFirstPassword(password, by) : this.opts.auth.setPassword(password, by));
  }

  async reboot(by: string): Promise<void> {
    await this.system('reboot', by);
  }

  async shutdown(by: string): Promise<void> {
    await this.system('poweroff', by);
  }

  private async system(action: 'reboot' | 'poweroff', by: string): Promise<void> {
    this.opts.events.append({ type: 'system', message: `${action} of the appliance requested`, by });
    await this.opts.events.flush();
    try {
      await run('systemctl', [action], { timeout: 10_000 });
    } catch (error) {
      throw new Error(`could not ${action}: ${String((error as { stderr?: string }).stderr ?? (error as Error).message).trim() || 'systemctl failed'}`, {
        cause: error,
      });
    }
  }
}

/** The default route's gateway on `dev`, from /proc/net/route (hex, little-endian). */
async function defaultGateway(dev: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const [iface, destination, gateway] = line.trim().split(/\s+/);
    if (iface === dev && destination === '00000000' && gateway && gateway !== '00000000') {
      const n = Number.parseInt(gateway, 16);
      return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
    }
  }
  return undefined;
}
