// rootfs-overlay/usr/libexec/rackboot/network-from-config: the cluster port's
// systemd-networkd file derived from rackboot.yaml.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const SCRIPT = join(REPO, 'rootfs-overlay/usr/libexec/rackboot/network-from-config');
const dir = mkdtempSync(join(tmpdir(), 'rbimg-net-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function generate(config: string): { status: number | null; stderr: string; network?: string } {
  const configFile = join(dir, `config-${++n}.yaml`);
  const output = join(dir, `out-${n}/10-rackboot-cluster.network`);
  writeFileSync(configFile, config);
  const result = spawnSync('sh', [SCRIPT, configFile, output], { encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr, network: existsSync(output) ? readFileSync(output, 'utf8') : undefined };
}

function setting(network: string | undefined, key: string): string[] {
  return (network ?? '')
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe('network-from-config', () => {
  it('gives the appliance default config 10.0.0.1/24 on eth0', () => {
    const r = generate(readFileSync(join(REPO, 'rootfs-overlay/etc/rackboot/rackboot.yaml'), 'utf8'));
    expect(r.status).toBe(0);
    expect(setting(r.network, 'Name')).toEqual(['eth0']);
    expect(setting(r.network, 'Address')).toEqual(['10.0.0.1/24']);
    expect(setting(r.network, 'DHCP')).toEqual([]);
    expect(setting(r.network, 'ConfigureWithoutCarrier')).toEqual(['yes']);
  });

  it('takes the prefix of the pool whose subnet contains the server address', () => {
    const r = generate(
      [
        'interface: "end0"   # onboard',
        "server_address: '172.16.8.2'",
        'pools:',
        '  - subnet: 10.9.0.0/16',
        '    range: 10.9.1.1-10.9.1.9',
        '  - subnet: 172.16.8.0/22',
        '    range: 172.16.9.1-172.16.9.200',
        '',
      ].join('\n'),
    );
    expect(r.status).toBe(0);
    expect(setting(r.network, 'Name')).toEqual(['end0']);
    expect(setting(r.network, 'Address')).toEqual(['172.16.8.2/22']);
  });

  it('falls back to /24 when no pool contains the address (proxy mode)', () => {
    const r = generate('interface: eth0\nserver_address: 192.168.5.10\nmode: proxy\n');
    expect(r.status).toBe(0);
    expect(setting(r.network, 'Address')).toEqual(['192.168.5.10/24']);
  });

  it('asks for an address by DHCP when the config names no server address', () => {
    const r = generate('interface: eth1\nmode: proxy\n# server_address: 10.0.0.1\n');
    expect(r.status).toBe(0);
    expect(setting(r.network, 'Name')).toEqual(['eth1']);
    expect(setting(r.network, 'Address')).toEqual([]);
    expect(setting(r.network, 'DHCP')).toEqual(['ipv4']);
  });

  it('ignores keys of the same name nested under other sections', () => {
    const r = generate('server_address: 10.1.2.3\nconsole:\n  interface: ttyS1\n');
    expect(r.status).toBe(0);
    expect(setting(r.network, 'Name')).toEqual(['eth0']);
  });

  it('refuses a malformed address or interface and writes nothing', () => {
    const bad = generate('interface: eth0\nserver_address: 10.0.0.300\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/server_address: found '10\.0\.0\.300', expected an IPv4 address/);
    expect(bad.network).toBeUndefined();
    const badIf = generate('interface: eth0; rm -rf /\nserver_address: 10.0.0.1\n');
    expect(badIf.status).toBe(1);
    expect(badIf.stderr).toMatch(/interface: found 'eth0; rm -rf \/', expected a network interface name/);
    expect(badIf.network).toBeUndefined();
  });

  it('fails clearly when the config cannot be read', () => {
    const result = spawnSync('sh', [SCRIPT, join(dir, 'missing.yaml'), join(dir, 'x.network')], { encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/cannot read .*missing\.yaml/);
  });
});
