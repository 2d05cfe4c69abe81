// GRUB's generated files over HTTP, as GRUB reads them after UEFI HTTP Boot
// (arm64 nodes): rackboot's HTTP server on loopback with the GrubFiles the
// appliance wires in (app/app.ts). The entry and the node's own file are
// generated; other names under /grub/ are the boot root's files.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GrubFiles } from '../../firmware/src/boot-policy/loader.js';
import { BootTokens } from '../../firmware/src/boot-policy/boot-token.js';
import { NodeResolver } from '../../firmware/src/boot-policy/nodes.js';
import { createHttpServer, type RackbootHttpServer } from '../../firmware/src/http/server.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';
import type { NodeRecord } from '../../firmware/src/model/node.js';

const MAC = '52:54:00:aa:00:02';
const OTHER = '52:54:00:aa:00:03';

describe('GRUB files over HTTP', () => {
  let work: string;
  let server: RackbootHttpServer;
  let base: string;
  const counters = new Counters();

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rackboot-grub-http-'));
    mkdirSync(join(work, 'grub'));
    writeFileSync(join(work, 'grub', 'theme.txt'), 'from the boot root\n');
    writeFileSync(join(work, 'grub', 'grub.cfg'), 'the boot root copy, never served\n');
    const nodes = new NodeResolver({
      directory: {
        get: (mac) => (mac === MAC ? ({ mac, name: 'arm01', profile: 'compute' } as NodeRecord) : undefined),
        nextBoot: () => undefined,
        isBootAllowed: () => true,
      },
      defaultProfile: () => 'compute',
      addressOf: (ip) => (ip === '127.0.0.1' ? MAC : undefined),
      neighbourLookup: () => Promise.resolve(undefined),
      tokens: new BootTokens(),
    });
    const grub = new GrubFiles({
      nodes,
      profiles: { compute: { kind: 'linux', kernel: 'arm64/vmlinuz', initrds: ['arm64/initrd.img'], cmdline: 'console=ttyAMA0 host={name}' } },
      serverBase: 'http://127.0.0.1',
      bootedUrl: (mac, token) => `http://127.0.0.1/api/v1/booted?mac=${mac}&token=${token}`,
    });
    server = createHttpServer({
      root: work,
      profiles: {},
      defaultProfile: 'compute',
      serverBase: 'http://127.0.0.1',
      log: silentLogger,
      counters,
      resolveNode: () => Promise.resolve(undefined),
      generated: async (relative, client) => (await grub.file(relative, client))?.content,
      limits: { closeGraceMs: 100 },
    });
    await server.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${server.address().port}`;
  });

  afterAll(async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: await res.text() };
  };

  it('serves the generated entry and the node its own configuration', async () => {
    const entry = await get('/grub/grub.cfg');
    expect(entry.status).toBe(200);
    expect(entry.body).toContain('configfile "$prefix/node-${net_default_mac}.cfg"');
    const own = await get(`/grub/node-${MAC}.cfg`);
    expect(own.status).toBe(200);
    expect(own.body).toContain(`linux '/arm64/vmlinuz' 'console=ttyAMA0' 'host=arm01' 'rackboot.booted=http://127.0.0.1/api/v1/booted?mac=${MAC}&token=`);
    expect(own.body).toContain(`initrd '/arm64/initrd.img'`);
    expect(counters.get('http.grub_configs')).toBe(2);
  });

  it("gives no node another node's configuration, and serves other names from the boot root", async () => {
    // The requester's address names the node (boot-policy/nodes.ts): asking by OTHER's name gets nothing of OTHER's.
    const claimed = await get(`/grub/node-${OTHER}.cfg`);
    expect(claimed.body).not.toContain(OTHER);
    expect(claimed.body).toContain(`arm01 (${MAC})`);
    expect(await get('/grub/theme.txt')).toEqual({ status: 200, body: 'from the boot root\n' });
    expect((await get('/grub/%E0%A4%A.cfg')).status).toBeGreaterThanOrEqual(400);
  });
});
