// Inventory addresses and names are what DHCP gives, on a real rackboot with
// real udhcpc clients in network namespaces: a node created through the API
// with an ip gets that ip (and its name as host name); no other client ever gets
// it; an edit of the ip and a rename apply on the next lease without a restart;
// and the API refuses the fixed addresses the configuration check refuses, with
// the same words.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../helpers/api-client.js';
import { waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.79.0.1';
const NODE_MAC = '52:54:00:79:00:01';
const OTHER_MAC = '52:54:00:79:00:02';
const THIRD_MAC = '52:54:00:79:00:03';

interface ErrorBody {
  error: string;
  field?: string;
  message: string;
}

describe('inventory addresses and names through DHCP (real rackboot, udhcpc)', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let api: ApiClient;
  let runs = 0;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      // Two dynamic addresses; the node's fixed address is one of them.
      yaml: ({ root }) => `
interface: eth0
mode: dhcp
lease_time: 1h
# Every dynamic address may go to unknown clients: this lab has one.
dhcp:
  unknown_share_percent: 100
pools:
  - subnet: 10.79.0.0/24
    range: 10.79.0.100-10.79.0.101
boot:
  root: ${root}
`,
    }));
    const admin = await lab.client(undefined, '10.79.0.9/24');
    api = await ApiClient.setUp(admin, `http://${SERVER}`, server);
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  /** One udhcpc run (asking for a host name) in a fresh namespace with `mac`: its "bound" line, or undefined when it got no lease. */
  async function lease(mac: string): Promise<string | undefined> {
    const ns = await lab.client(mac);
    const { script, events } = await lab.clientScript('udhcpc', `inventory-${++runs}`);
    try {
      await ns.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '4', '-T', '1', '-O', 'hostname']);
    } catch {
      return undefined; // -n: exits with failure when no lease was obtained
    }
    return waitForEvent(events, /^bound /);
  }

  it('a node created with an ip gets it with its name; another client never gets that ip', async () => {
    const created = await api.request('POST', '/api/v1/nodes', { mac: NODE_MAC, name: 'inv-a', ip: '10.79.0.101' });
    expect(created.status).toBe(201);

    // Other clients first: they get the other dynamic address, then nothing, though 10.79.0.101 is unleased.
    const other = await lease(OTHER_MAC);
    expect(other).toContain('bound 10.79.0.100 24');
    expect(await lease(THIRD_MAC)).toBeUndefined();

    const bound = await lease(NODE_MAC);
    expect(bound).toContain('bound 10.79.0.101 24');
    expect(bound).toContain('host=inv-a');
    expect(server.lines.some((l) => l.msg === 'lease bound' && l.ip === '10.79.0.101' && l.mac !== NODE_MAC)).toBe(false);
  }, 120_000);

  it('an edited ip and a new name apply on the next lease, without a restart', async () => {
    const patched = await api.request('PATCH', `/api/v1/nodes/inv-a`, { ip: '10.79.0.50', name: 'inv-b' });
    expect(patched.status).toBe(200);
    const bound = await lease(NODE_MAC);
    expect(bound).toContain('bound 10.79.0.50 24');
    expect(bound).toContain('host=inv-b');
  }, 120_000);

  it('refuses fixed addresses the configuration would refuse, and ones in use, naming the field', async () => {
    const refused = async (ip: string, status: number, message: string) => {
      const answer = await api.request<ErrorBody>('POST', '/api/v1/nodes', { mac: THIRD_MAC, ip });
      expect({ status: answer.status, field: answer.body.field, message: answer.body.message }).toEqual({ status, field: 'ip', message });
    };
    await refused(SERVER, 400, `ip: expected an address other than server_address ${SERVER}, which is rackboot's own, found "${SERVER}"`);
    await refused('192.168.79.5', 400, 'ip: expected an address inside one of the pool subnets (10.79.0.0/24), because mode is dhcp, found "192.168.79.5"');
    await refused('10.79.0.50', 409, `ip: expected an address no other host has (10.79.0.50 is fixed for inv-b, ${NODE_MAC}), found "10.79.0.50"`);
    await refused(
      '10.79.0.100',
      409,
      `ip: expected an address not leased to another client (10.79.0.100 is leased to ${OTHER_MAC}; choose a free address or let that lease end first), found "10.79.0.100"`,
    );
    // The same checks on an edit.
    const edit = await api.request<ErrorBody>('PATCH', '/api/v1/nodes/inv-b', { ip: SERVER });
    expect(edit.status).toBe(400);
    expect(edit.body.message).toContain("which is rackboot's own");
    // Nothing of it reached the inventory.
    expect((await api.request('GET', `/api/v1/nodes/${THIRD_MAC}`)).status).toBe(404);
  }, 60_000);
});
