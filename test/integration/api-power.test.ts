// The REST API of a real rackboot in a namespace lab, driven with curl from
// another namespace: setup with the logged token, node inventory edits, power
// actions through a `command` power channel (a shell script that records what it
// was asked), the events they leave, and refusals without credentials.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { ApiClient, managementCa } from '../helpers/api-client.js';
import type { NodeView, PowerResult, RackbootEvent } from '../../firmware/src/model/api.js';

const SERVER = '10.87.0.1';
const NODE_MAC = '52:54:00:87:00:01';

describe('REST API and node power on a real rackboot', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let admin: Netns;
  let api: ApiClient;
  let actions: string;

  beforeAll(async () => {
    let relay = '';
    ({ lab, server } = await startRackboot({
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
  - subnet: 10.87.0.0/24
    range: 10.87.0.100-10.87.0.150
hosts:
  - { mac: "${NODE_MAC}", hostname: rack1-n01, power_channel: relay1 }
power:
  channels:
    relay1:
      driver: command
      on: [${relay}, on, "{channel}"]
      off: [${relay}, off, "{channel}"]
      cycle: [${relay}, cycle, "{channel}"]
  sequencer: { stagger: 1s }
boot:
  root: ${root}
`,
    }));
    admin = await lab.client(undefined, '10.87.0.9/24');
    api = await ApiClient.setUp(admin, `http://${SERVER}`, server);
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  it('lists the configured node with its power channel', async () => {
    const node = await api.node('rack1-n01');
    expect(node).toMatchObject({ mac: NODE_MAC, name: 'rack1-n01', powerChannel: 'relay1', origin: 'config', stage: 'off' });
  });

  it('power-cycles a node through its channel, records who asked, and starts a boot', async () => {
    const answer = await api.request<PowerResult>('POST', `/api/v1/nodes/${NODE_MAC}/power`, { action: 'cycle' });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ mac: NODE_MAC, action: 'cycle', ok: true, state: 'on' });
    expect(await readFile(actions, 'utf8')).toBe('cycle relay1\n');
    const events = await api.get<RackbootEvent[]>(`/api/v1/events?mac=${NODE_MAC}&type=power`);
    expect(events.at(-1)).toMatchObject({ type: 'power', by: 'token:tests' });
    expect((await api.node(NODE_MAC)).stage).toBe('power_on');
  });

  it('powers on the whole rack as one sequenced action', async () => {
    const answer = await api.request<PowerResult[]>('POST', '/api/v1/power', { action: 'on' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual([expect.objectContaining({ mac: NODE_MAC, ok: true })]);
    expect((await readFile(actions, 'utf8')).trim().split('\n').at(-1)).toBe('on relay1');
  });

  it('creates, edits and deletes a node, and says which field is wrong', async () => {
    const created = await api.request<NodeView>('POST', '/api/v1/nodes', { mac: '52:54:00:87:00:02', name: 'rack1-n02', tags: ['gpu'] });
    expect(created.status).toBe(201);
    const bad = await api.request<{ field: string; message: string }>('PATCH', '/api/v1/nodes/rack1-n02', { powerChannel: 'relay9' });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('powerChannel');
    const patched = await api.request<NodeView>('PATCH', '/api/v1/nodes/rack1-n02', { notes: 'slot 2' });
    expect(patched.body).toMatchObject({ notes: 'slot 2', origin: 'api' });
    expect((await api.request('DELETE', '/api/v1/nodes/rack1-n02')).status).toBe(200);
    expect((await api.request('GET', '/api/v1/nodes/rack1-n02')).status).toBe(404);
  });

  it('refuses writes without credentials, and serves /metrics and the UI to anyone', async () => {
    const ca = await managementCa(server);
    const anonymous = await admin.exec([
      'curl',
      '-s',
      '--cacert',
      ca,
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '--data',
      '{"action":"off"}',
      `https://${SERVER}/api/v1/nodes/${NODE_MAC}/power`,
    ]);
    expect(anonymous).toBe('401');
    expect(await readFile(actions, 'utf8')).not.toContain('off');
    const metrics = await admin.exec(['curl', '-sS', `http://${SERVER}/metrics`]);
    expect(metrics).toMatch(/^rackboot_nodes\{stage="power_on"\} 1$/m);
    const ui = await admin.exec(['curl', '-sS', '--cacert', ca, `https://${SERVER}/`]);
    expect(ui).toContain('<!doctype html>');
  });
});
