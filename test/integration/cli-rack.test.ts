// The rack command line (the built bundle, run as a subprocess in an admin
// namespace) against a real rackboot in a namespace lab, over HTTPS trusting
// the certificate rackboot logged at start: a token made with `token create`,
// nodes add/list/show/set/rm, power on and status through a `command` channel
// (a script that records what it was asked), boot next, events, range and tag
// targets, and the API's own error messages with a non-zero exit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitForEvent, type DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import { BUNDLE, type RackbootProcess } from '../helpers/rackboot-process.js';
import { ApiClient, managementCa, TEST_ADMIN_PASSWORD } from '../helpers/api-client.js';
import type { NodeView, PowerResult, RackbootEvent } from '../../firmware/src/model/api.js';

const SERVER = '10.88.0.1';
const NODE_MAC = '52:54:00:88:00:01';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('rackboot CLI against a running server', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let admin: Netns;
  let actions: string;
  let dir: string;
  let ca: string;
  let tokenFile: string;

  /** Runs the bundle's CLI in the admin namespace with --server, --ca and the token file, unless `bare`. */
  const cli = (args: string[], bare = false): Promise<Run> =>
    new Promise((resolve) => {
      const connection = bare ? [] : ['--server', `https://${SERVER}`, '--ca', ca, '--token-file', tokenFile];
      const child = admin.spawn([process.execPath, BUNDLE, ...args, ...connection], { env: { PATH: process.env.PATH, HOME: dir } });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });

  beforeAll(async () => {
    let relay = '';
    ({ lab, server, dir } = await startRackboot({
      address: `${SERVER}/24`,
      prepare: async ({ dir }) => {
        actions = join(dir, 'power-actions.log');
        relay = join(dir, 'relay.sh');
        await writeFile(relay, `#!/bin/sh\necho "$1 $2" >> ${actions}\n`);
        await chmod(relay, 0o755);
      },
      yaml: ({ root }) => `
interface: eth0
pools:
  - subnet: 10.88.0.0/24
    range: 10.88.0.100-10.88.0.150
hosts:
  - { mac: "${NODE_MAC}", hostname: rack1-n01, power_channel: relay1 }
power:
  channels:
    relay1: { driver: command, on: [${relay}, on, "{channel}"], off: [${relay}, off, "{channel}"], cycle: [${relay}, cycle, "{channel}"] }
    relay2: { driver: command, on: [${relay}, on, "{channel}"], off: [${relay}, off, "{channel}"], cycle: [${relay}, cycle, "{channel}"] }
  sequencer: { stagger: 1s }
boot:
  root: ${root}
  profiles:
    default: { kind: local }
    rescue: { kind: local }
`,
    }));
    admin = await lab.client(undefined, '10.88.0.9/24');
    // Sets the admin password (the setup token is in rackboot's log); the CLI then logs in with it.
    await ApiClient.setUp(admin, `https://${SERVER}`, server);
    ca = await managementCa(server);
    tokenFile = join(dir, 'cli-token');
    await writeFile(join(dir, 'password'), TEST_ADMIN_PASSWORD + '\n');
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  it('prints the help of every rack verb', async () => {
    for (const verb of ['nodes', 'power', 'boot', 'events', 'token']) {
      const help = await cli([verb, '--help'], true);
      expect(help.code, verb).toBe(0);
      expect(help.stdout).toContain('Usage');
      expect(help.stdout).toContain('--insecure-pin');
    }
    expect((await cli(['--help'], true)).stdout).toContain('rackboot power TARGET... on|off|cycle|status');
  });

  it('makes an API token with the admin password and saves it for the other verbs', async () => {
    const made = await cli(['token', 'create', 'cli', '--password-file', join(dir, 'password'), '--save']);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    expect(made.stdout).toContain(`token cli saved to ${tokenFile}`);
    expect((await readFile(tokenFile, 'utf8')).trim()).toMatch(/^\S{20,}$/);
    const wrong = await cli(['token', 'create', 'x', '--password-file', join(dir, 'cli-token')]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^rackboot token: .+\(HTTP 401/);
  });

  it('adds, lists, shows, changes and removes nodes, with ranges and tags as targets', async () => {
    const added = await cli(['nodes', 'add', '52-54-00-88-00-02', '--name', 'rack1-n02', '--power-channel', 'relay2', '--tag', 'gpu']);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toBe('added rack1-n02 (52:54:00:88:00:02)\n');
    expect((await cli(['nodes', 'add', '5254.0088.0003', '--name', 'rack1-n03', '--tag', 'gpu'])).code).toBe(0);

    const listed = await cli(['nodes', 'list', 'rack1-n[01-03]', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as NodeView[]).map((n) => n.name)).toEqual(['rack1-n01', 'rack1-n02', 'rack1-n03']);
    const table = await cli(['nodes']);
    expect(table.stdout).toMatch(/^NAME\s+MAC\s+IP\s+STAGE\s+POWER/);
    expect(table.stdout).toMatch(/^rack1-n02\s+52:54:00:88:00:02\s.*\bgpu$/m);

    const set = await cli(['nodes', 'set', 'tag:gpu', '--notes', 'row 4']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('updated rack1-n02 (52:54:00:88:00:02)\nupdated rack1-n03 (52:54:00:88:00:03)\n');
    const shown = await cli(['nodes', 'show', '525400880003', '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ name: 'rack1-n03', notes: 'row 4', origin: 'api', tags: ['gpu'] });
    expect((await cli(['nodes', 'show', 'rack1-n03'])).stdout).toMatch(/^notes:\s+row 4$/m);

    const removed = await cli(['nodes', 'rm', 'rack1-n03']);
    expect(removed.stdout).toBe('removed rack1-n03 (52:54:00:88:00:03)\n');
    expect((await cli(['nodes', 'list', '--json'])).stdout).not.toContain('rack1-n03');
  });

  it('prints the API’s own message and exits non-zero when it refuses, and names targets that match nothing', async () => {
    const bad = await cli(['nodes', 'set', 'rack1-n02', '--power-channel', 'relay9']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^rackboot nodes: powerChannel: .*relay9.*\(HTTP 400 bad_request\)\n$/);
    const missing = await cli(['power', 'rack1-n[01-05]', 'on']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no node rack1-n03, rack1-n04, rack1-n05');
    expect(await readFile(actions, 'utf8').catch(() => '')).toBe('');
    const noToken = await cli(['nodes', '--server', `https://${SERVER}`, '--ca', ca], true);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('no API token');
    const usage = await cli(['power', 'rack1-n01', 'sideways']);
    expect(usage.code).toBe(2);
  });

  it('powers a range through the channels and reports the state', async () => {
    const on = await cli(['power', 'rack1-n[01-02]', 'on', '--json']);
    expect(on.code, on.stderr).toBe(0);
    expect(JSON.parse(on.stdout) as PowerResult[]).toEqual([
      expect.objectContaining({ name: 'rack1-n01', ok: true, state: 'on' }),
      expect.objectContaining({ name: 'rack1-n02', ok: true, state: 'on' }),
    ]);
    expect((await readFile(actions, 'utf8')).trim().split('\n').sort()).toEqual(['on relay1', 'on relay2']);
    const status = await cli(['power', 'rack1-n01', 'status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^rack1-n01\s+52:54:00:88:00:01\s+on\s+relay1\s/m);
  });

  it('imports nodes from CSV: adds the new, updates the known, reports the refused with the API’s message', async () => {
    const csv = join(dir, 'rack.csv');
    await writeFile(
      csv,
      'mac,name,power_channel,tags,notes\n52:54:00:88:00:02,rack1-n02,,gpu;ib,imported\n5254.0088.0004,rack1-n04,,,\n52:54:00:88:00:05,rack1-n05,relay9,,\n',
    );
    const imported = await cli(['nodes', 'import', csv]);
    expect(imported.code).toBe(1);
    expect(imported.stdout).toMatch(new RegExp(`^${csv}:2 +rack1-n02 +52:54:00:88:00:02 +updated$`, 'm'));
    expect(imported.stdout).toMatch(new RegExp(`^${csv}:3 +rack1-n04 +52:54:00:88:00:04 +added$`, 'm'));
    expect(imported.stdout).toMatch(new RegExp(`^${csv}:4 +rack1-n05 +52:54:00:88:00:05 +failed: powerChannel: .*relay9`, 'm'));
    expect(imported.stdout).toContain('2 of 3 node(s) imported');
    const n02 = JSON.parse((await cli(['nodes', 'show', 'rack1-n02', '--json'])).stdout) as NodeView;
    expect(n02).toMatchObject({ tags: ['gpu', 'ib'], notes: 'imported', powerChannel: 'relay2' });
    const badFile = join(dir, 'bad.csv');
    await writeFile(badFile, 'mac,name\nnot-a-mac,x\n');
    const bad = await cli(['nodes', 'import', badFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${badFile}:2: mac: found "not-a-mac"`);
    expect((await cli(['nodes', 'rm', 'rack1-n04'])).code).toBe(0);
  });

  it('sets the next boot profile and shows the events it left, also as a live stream', async () => {
    const follow = admin.spawn([
      process.execPath,
      BUNDLE,
      'events',
      '--follow',
      '--json',
      '--type',
      'node.updated',
      '--server',
      `https://${SERVER}`,
      '--ca',
      ca,
      '--token-file',
      tokenFile,
    ]);
    let streamed = '';
    follow.stdout!.on('data', (c: Buffer) => (streamed += c.toString()));
    try {
      const next = await cli(['boot', 'rack1-n01', 'next', 'rescue']);
      expect(next.code, next.stderr).toBe(0);
      expect(next.stdout).toBe('rack1-n01: next boot with profile rescue, then as usual\n');
      const events = await cli(['events', '--json', '--node', NODE_MAC.toUpperCase()]);
      expect(events.code, events.stderr).toBe(0);
      const list = JSON.parse(events.stdout) as RackbootEvent[];
      expect(list.some((e) => e.type === 'power' && e.by === 'token:cli')).toBe(true);
      expect(list.every((e) => e.mac === NODE_MAC)).toBe(true);
      const noProfile = await cli(['boot', 'rack1-n01', 'next', 'nosuch']);
      expect(noProfile.code).toBe(1);
      expect(noProfile.stderr).toContain('nosuch');
      // The stream shows the edit as a JSON line, whether it arrived in the backlog or live.
      const deadline = Date.now() + 20_000;
      while (!streamed.includes('"node.updated"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const lines = streamed
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as RackbootEvent);
      expect(lines.some((e) => e.type === 'node.updated' && e.node === 'rack1-n01')).toBe(true);
    } finally {
      follow.kill('SIGTERM');
    }
  });

  it('trusts a pinned key and refuses a wrong pin before sending anything', async () => {
    const line = await server.waitFor((l) => typeof l.msg === 'string' && l.msg.startsWith('management https certificate SHA-256 '));
    const pin = line.pin as string;
    const pinned = await cli(['nodes', 'list', '--json', '--server', `https://${SERVER}`, '--insecure-pin', pin, '--token-file', tokenFile], true);
    expect(pinned.code, pinned.stderr).toBe(0);
    const wrong = await cli(['nodes', '--server', `https://${SERVER}`, '--insecure-pin', `sha256//${'A'.repeat(43)}=`, '--token-file', tokenFile], true);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('not the pinned');
  });

  it('lists leases with the inventory name of each node', async () => {
    const node = await lab.client(NODE_MAC);
    const { script, events } = await lab.clientScript('udhcpc', 'cli-rack-n01');
    await node.exec(['udhcpc', '-i', 'eth0', '-s', script, '-n', '-q', '-t', '5', '-T', '2']);
    const ip = (await waitForEvent(events, /^bound /)).split(' ')[1];
    const leases = await cli(['leases', '--state-dir', join(dir, 'state')], true);
    expect(leases.code, leases.stderr).toBe(0);
    expect(leases.stdout).toMatch(/^ADDRESS +MAC +STATE +EXPIRES IN +NODE +HOSTNAME/);
    expect(leases.stdout).toMatch(new RegExp(`^${ip.replace(/\./g, '\\.')} +${NODE_MAC} +bound +\\S+ +rack1-n01\\b`, 'm'));
    const json = await cli(['leases', '--state-dir', join(dir, 'state'), '--json'], true);
    expect(JSON.parse(json.stdout)).toContainEqual(expect.objectContaining({ ip, mac: NODE_MAC, node: 'rack1-n01' }));
  });
});
