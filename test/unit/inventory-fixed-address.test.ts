// One rule for fixed addresses: a node's ip set through the inventory (API
// POST/PATCH /nodes) is refused for exactly what the configuration file refuses
// in hosts[].ip, with the same words, plus an address leased to another MAC now.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, type ConfigProblem } from '../../firmware/src/config/errors.js';
import { fixedAddressRules } from '../../firmware/src/config/fixed-address.js';
import { parseConfigText } from '../../firmware/src/config/load.js';
import { InventoryError, NodeInventory } from '../../firmware/src/inventory/nodes.js';
import { silentLogger } from '../../firmware/src/util/log.js';
import { testConfig } from '../helpers/config.js';

const SERVER = '10.77.0.1';
const A = '52:54:00:dd:00:01';
const B = '52:54:00:dd:00:02';
const C = '52:54:00:dd:00:03';

const CONFIG = testConfig({
  mode: 'dhcp',
  pools: [
    { subnet: '10.77.0.0', prefix: 24, start: '10.77.0.100', end: '10.77.0.199', router: '10.77.0.254' },
    { subnet: '10.78.0.0', prefix: 24, start: '10.78.0.100', end: '10.78.0.199' },
  ],
  hosts: [],
});

/** The problem the configuration file reports for a host with this ip (server_address 10.77.0.1, same pools). */
function configProblem(ip: string): ConfigProblem {
  const text = [
    'interface: eth0',
    `server_address: ${SERVER}`,
    'pools:',
    '  - subnet: 10.77.0.0/24',
    '    range: 10.77.0.100-10.77.0.199',
    '    router: 10.77.0.254',
    '  - subnet: 10.78.0.0/24',
    '    range: 10.78.0.100-10.78.0.199',
    'hosts:',
    '  - mac: 52:54:00:dd:00:09',
    `    ip: ${ip}`,
  ].join('\n');
  try {
    parseConfigText(`${text}\n`, '/etc/rackboot/rackboot.yaml');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.find((p) => p.keyPath === 'hosts[0].ip')!;
    throw error;
  }
  throw new Error(`ip ${ip} unexpectedly valid in the configuration`);
}

describe('fixed addresses of inventory nodes', () => {
  let dir: string;
  let inv: NodeInventory;
  const bound = new Map<string, string>();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rbinv-fixed-'));
    bound.clear();
    inv = await NodeInventory.open(dir, { clock: { now: () => 1_700_000_000_000 }, unknownNodes: 'boot', log: silentLogger });
    inv.setAddressRules({ ...fixedAddressRules(CONFIG, SERVER), boundTo: (ip) => bound.get(ip) });
  });
  afterEach(async () => {
    await inv.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function refusal(p: Promise<unknown>): Promise<InventoryError> {
    const error = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InventoryError);
    return error as InventoryError;
  }

  it.each([
    ["rackboot's own address", SERVER, /other than server_address 10\.77\.0\.1, which is rackboot's own/],
    ['an address outside every pool subnet', '192.168.5.5', /inside one of the pool subnets \(10\.77\.0\.0\/24, 10\.78\.0\.0\/24\), because mode is dhcp/],
    ["a router's address", '10.77.0.254', /other than the router's \(pools\[0\]\.router\)/],
    ['a broadcast address', '10.78.0.255', /host address of 10\.78\.0\.0\/24, not its network or broadcast address/],
  ])('refuses %s on create and edit (400), with the words of the configuration check', async (_what, ip, words) => {
    const expected = configProblem(ip).expected;
    expect(expected).toMatch(words);
    const message = `ip: expected ${expected}, found "${ip}"`;
    const created = await refusal(inv.create({ mac: A, ip }, 'admin'));
    expect({ field: created.field, code: created.code, message: created.message }).toEqual({ field: 'ip', code: 'bad_request', message });
    await inv.create({ mac: A, ip: '10.77.0.20' }, 'admin');
    const edited = await refusal(inv.update(A, { ip }, 'admin'));
    expect({ field: edited.field, code: edited.code, message: edited.message }).toEqual({ field: 'ip', code: 'bad_request', message });
    expect(inv.get(A)!.ip).toBe('10.77.0.20');
  });

  it("refuses another node's fixed address (409), naming the node", async () => {
    await inv.create({ mac: A, name: 'web1', ip: '10.77.0.20' }, 'admin');
    const error = await refusal(inv.create({ mac: B, ip: '10.77.0.20' }, 'admin'));
    expect(error.code).toBe('conflict');
    expect(error.message).toBe(`ip: expected an address no other host has (10.77.0.20 is fixed for web1, ${A}), found "10.77.0.20"`);
    await inv.create({ mac: B, ip: '10.77.0.21' }, 'admin');
    expect((await refusal(inv.update(B, { ip: '10.77.0.20' }, 'admin'))).code).toBe('conflict');
  });

  it('refuses an address leased to another MAC right now (409), and accepts the holder itself', async () => {
    bound.set('10.77.0.150', C);
    const error = await refusal(inv.create({ mac: A, ip: '10.77.0.150' }, 'admin'));
    expect(error.code).toBe('conflict');
    expect(error.message).toBe(
      `ip: expected an address not leased to another client (10.77.0.150 is leased to ${C}; choose a free address or let that lease end first), found "10.77.0.150"`,
    );
    await inv.create({ mac: C, name: 'db1', ip: '10.77.0.150' }, 'admin');
    expect(inv.get(C)!.ip).toBe('10.77.0.150');
    // A lease held by a node is named by the node.
    bound.set('10.77.0.151', C);
    await inv.create({ mac: A }, 'admin');
    expect((await refusal(inv.update(A, { ip: '10.77.0.151' }, 'admin'))).message).toContain(`10.77.0.151 is leased to db1, ${C}`);
  });

  it('accepts a free address inside a pool subnet, in or out of the dynamic range, and clearing it', async () => {
    expect((await inv.create({ mac: A, ip: '10.77.0.120' }, 'admin')).ip).toBe('10.77.0.120');
    expect((await inv.update(A, { ip: '10.78.0.7' }, 'admin')).ip).toBe('10.78.0.7');
    expect((await inv.update(A, { ip: null }, 'admin')).ip).toBeUndefined();
  });
});
