// GRUB's generated files over a real TFTP transfer: rackboot's TftpServer on
// loopback with the GrubFiles the appliance wires in (app/app.ts), read by curl's
// TFTP client. The per-node file carries the node's profile; names GRUB does not
// use fall through to the boot root.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GrubFiles } from '../../firmware/src/boot-policy/loader.js';
import { BootTokens } from '../../firmware/src/boot-policy/boot-token.js';
import { NodeResolver } from '../../firmware/src/boot-policy/nodes.js';
import { TftpServer } from '../../firmware/src/tftp/server.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';
import type { NodeRecord } from '../../firmware/src/model/node.js';

const run = promisify(execFile);
const MAC = '52:54:00:aa:00:01';

describe('GRUB files over TFTP', () => {
  let work: string;
  let tftp: TftpServer;
  let port: number;
  const served: string[] = [];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rackboot-grub-tftp-'));
    writeFileSync(join(work, 'grubx64.efi'), 'grub image');
    const probe = createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
    port = probe.address().port;
    probe.close();
    const nodes = new NodeResolver({
      directory: {
        get: (mac) => (mac === MAC ? ({ mac, name: 'node01', profile: 'compute' } as NodeRecord) : undefined),
        nextBoot: () => undefined,
        isBootAllowed: () => true,
      },
      defaultProfile: () => 'compute',
      // GRUB's TFTP requests come from the node's address, which names it (as a lease would).
      addressOf: (ip) => (ip === '127.0.0.1' ? MAC : undefined),
      neighbourLookup: () => Promise.resolve(undefined),
      tokens: new BootTokens(),
      onProfileServed: (mac, profile) => served.push(`${mac} ${profile}`),
    });
    const grub = new GrubFiles({
      nodes,
      profiles: { compute: { kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd.img'], cmdline: 'console=ttyS0 host={name}' } },
      serverBase: 'http://127.0.0.1',
      bootedUrl: (mac, token) => `http://127.0.0.1/api/v1/booted?mac=${mac}&token=${token}`,
    });
    tftp = new TftpServer({
      root: work,
      address: '127.0.0.1',
      port,
      mtu: 1500,
      maxTransfers: 4,
      maxRateMbit: 1000,
      transferRateMbit: 1000,
      log: silentLogger,
      counters: new Counters(),
      generated: async (relative, client) => (await grub.file(relative, client))?.content,
    });
    await tftp.start();
  });

  afterAll(async () => {
    await tftp.close();
    rmSync(work, { recursive: true, force: true });
  });

  const get = async (name: string): Promise<string> => (await run('curl', ['-sS', '--max-time', '20', `tftp://127.0.0.1:${port}/${name}`])).stdout;

  it('serves the entry configuration, the node configuration by MAC and the boot root files', async () => {
    expect(await get('grub/grub.cfg')).toContain('configfile "$prefix/node-${net_default_mac}.cfg"');
    const node = await get(`grub/node-${MAC}.cfg`);
    expect(node).toMatch(
      /linux '\/vmlinuz' 'console=ttyS0' 'host=node01' 'rackboot\.booted=http:\/\/127\.0\.0\.1\/api\/v1\/booted\?mac=52:54:00:aa:00:01&token=[0-9a-f]{32}'/,
    );
    expect(node).toContain("initrd '/initrd.img'");
    expect(served).toEqual([`${MAC} compute`]);
    // GRUB's own spelling from its net search: the same configuration (each fetch starts a boot with a new token).
    const withoutToken = (text: string) => text.replace(/token=[0-9a-f]{32}/, 'token=T');
    expect(withoutToken(await get('grub/grub.cfg-01-52-54-00-aa-00-01'))).toBe(withoutToken(node));
    // Another MAC's configuration asked from this node's address: this node's own, without a token or callback.
    const other = await get('grub/node-52:54:00:aa:00:09.cfg');
    expect(other).toContain("'host=node01'");
    expect(other).not.toContain('rackboot.booted');
    expect(await get('grubx64.efi')).toBe('grub image');
  });

  it('names that are not GRUB files are the boot root as before: missing is "file not found"', async () => {
    await expect(get('grub/x86_64-efi/command.lst')).rejects.toThrow(/curl: \(68\)|not found/i);
  });
});
