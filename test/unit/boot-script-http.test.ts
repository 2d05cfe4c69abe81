// The /boot.ipxe handler with the real NodeResolver behind it, over a real HTTP
// server on 127.0.0.1: the requester's address names the node, `?mac=` is a
// claim; events never carry a MAC the address did not name; held nodes get 403;
// the node's own script carries its token on every URL and in the callback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootTokens } from '../../firmware/src/boot-policy/boot-token.js';
import { NodeResolver } from '../../firmware/src/boot-policy/nodes.js';
import type { ProfileConfig } from '../../firmware/src/config/schema.js';
import { BOOTED_PATH } from '../../firmware/src/http/booted-url.js';
import { createHttpServer, type HttpEvent, type RackbootHttpServer } from '../../firmware/src/http/server.js';
import type { NodeRecord } from '../../firmware/src/model/node.js';
import { Counters } from '../../firmware/src/util/counters.js';
import { silentLogger } from '../../firmware/src/util/log.js';

/** The node at 127.0.0.1, who makes every request here. */
const SELF = '52:54:00:00:00:0a';
const VICTIM = '52:54:00:00:00:01';
const profiles: Record<string, ProfileConfig> = {
  compute: { kind: 'linux', kernel: 'vmlinuz', initrds: ['initrd.img'], cmdline: 'console=ttyS0' },
};

describe('/boot.ipxe over HTTP', () => {
  let root: string;
  let server: RackbootHttpServer;
  let base: string;
  const events: HttpEvent[] = [];
  const nodes = new Map<string, NodeRecord>();
  const tokens = new BootTokens();
  let hold = false;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'rackboot-boot-script-'));
    for (const [mac, name] of [
      [SELF, 'self'],
      [VICTIM, 'victim'],
    ])
      nodes.set(mac, { mac, name, tags: [], notes: '', origin: 'api', approved: true, createdAt: 0, updatedAt: 0 });
    const resolver = new NodeResolver({
      directory: {
        get: (mac) => nodes.get(mac),
        nextBoot: () => undefined,
        isBootAllowed: (mac) => nodes.get(mac)?.approved ?? !hold,
      },
      defaultProfile: () => 'compute',
      addressOf: (ip) => (ip === '127.0.0.1' ? SELF : undefined),
      tokens,
    });
    server = createHttpServer({
      root,
      profiles,
      defaultProfile: 'compute',
      serverBase: 'http://10.0.0.1',
      bootedCallbackPath: BOOTED_PATH,
      log: silentLogger,
      counters: new Counters(),
      onEvent: (event) => events.push(event),
      resolveNode: (query) => resolver.resolve(query),
      limits: { closeGraceMs: 100 },
    });
    await server.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${server.address().port}`;
  });

  afterAll(async () => {
    await server.close();
    await rm(root, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: await res.text() };
  };

  it('names events by the address, never by ?mac=', async () => {
    events.length = 0;
    expect((await get(`/boot.ipxe?mac=${VICTIM}&profile=nope`)).status).toBe(404);
    const forged = await get(`/boot.ipxe?mac=${VICTIM}`);
    expect(forged.body).toContain(`node self (${SELF}, 127.0.0.1)`);
    expect(forged.body).not.toContain('token=');
    expect(events.map((e) => (e.type === 'ipxe-script' ? [e.status, e.mac] : []))).toEqual([
      [404, undefined],
      [200, SELF],
    ]);
  });

  it("gives the node's own script its token on every URL and in the callback", async () => {
    const own = await get(`/boot.ipxe?mac=${SELF}`);
    const token = /\?token=([0-9a-f]{32}) /.exec(own.body)?.[1] ?? '';
    expect(tokens.matches(SELF, token)).toBe(true);
    expect(own.body).toContain(
      `kernel http://10.0.0.1/vmlinuz?token=${token} initrd=initrd.img console=ttyS0 rackboot.booted=http://10.0.0.1${BOOTED_PATH}?mac=${SELF}&token=${token} || goto failed`,
    );
    expect(own.body).toContain(`initrd --name initrd.img http://10.0.0.1/initrd.img?token=${token} || goto failed`);
    expect(own.body).toContain(`/boot.ipxe?mac=\${netX/mac}&token=${token} || goto failed`);
    // The retry loop presents it and keeps it.
    expect((await get(`/boot.ipxe?mac=${SELF}&token=${token}`)).body).toContain(`?token=${token} `);
  });

  it('answers 403 to a node held until approval, with no MAC on the event', async () => {
    hold = true;
    nodes.set(SELF, { ...nodes.get(SELF)!, approved: false });
    events.length = 0;
    const refused = await get('/boot.ipxe');
    expect(refused.status).toBe(403);
    expect(refused.body).not.toContain('#!ipxe');
    expect(events).toMatchObject([{ type: 'ipxe-script', status: 403 }]);
    expect(events[0]).not.toHaveProperty('mac');
    nodes.set(SELF, { ...nodes.get(SELF)!, approved: true });
    hold = false;
  });
});
