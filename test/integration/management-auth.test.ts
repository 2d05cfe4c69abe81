// Sessions and login throttling on a real rackboot over HTTPS, driven with curl
// from hosts on the segment: an event stream (curl -N, as a page's fetch reads
// it) ends when its session logs out; a flood of wrong passwords from twelve
// addresses cannot lock the owner out of the web UI (a fresh address logs in),
// and an API token keeps working throughout.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, TEST_ADMIN_PASSWORD, curlOver, managementCa } from '../helpers/api-client.js';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.98.0.1';

describe('sessions and login throttling on a real rackboot', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let desk: Netns;
  let api: ApiClient;
  let ca: string;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      yaml: ({ root }) => `
interface: eth0
pools:
  - subnet: 10.98.0.0/24
    range: 10.98.0.100-10.98.0.150
boot:
  root: ${root}
`,
    }));
    desk = await lab.client(undefined, '10.98.0.9/24');
    api = await ApiClient.setUp(desk, `https://${SERVER}`, server);
    ca = await managementCa(server);
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  /** Logs in from `from` (an address of `ns`); the session cookie and CSRF token, or the status of the refusal. */
  const login = async (ns: Netns, password: string, from?: string) => {
    const out = await ns.exec([
      'curl',
      '-sS',
      '--max-time',
      '20',
      '--cacert',
      ca,
      ...(from ? ['--interface', from] : []),
      '-D',
      '-',
      '-H',
      'Content-Type: application/json',
      '--data',
      JSON.stringify({ password }),
      '-w',
      '\n%{http_code}',
      `https://${SERVER}/api/v1/auth/login`,
    ]);
    const status = Number(out.slice(out.lastIndexOf('\n') + 1));
    const cookie = /^set-cookie: (rackboot_session=[^;]+)/im.exec(out)?.[1];
    const csrf = /"csrfToken":"([^"]+)"/.exec(out)?.[1];
    return { status, cookie, csrf };
  };

  it('ends an event stream when its session logs out', async () => {
    const session = await login(desk, TEST_ADMIN_PASSWORD);
    expect(session.status).toBe(200);
    const stream: ChildProcess = desk.spawn(['curl', '-sS', '-N', '--cacert', ca, '-H', `Cookie: ${session.cookie}`, `https://${SERVER}/api/v1/events/stream`]);
    let received = '';
    stream.stdout!.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    const exited = new Promise<number | null>((resolve) => stream.once('exit', resolve));
    while (!received.includes(': connected')) await new Promise((r) => setTimeout(r, 50));
    const logout = await curlOver(desk, [
      '--cacert',
      ca,
      '-X',
      'POST',
      '-H',
      `Cookie: ${session.cookie}`,
      '-H',
      `X-CSRF-Token: ${session.csrf}`,
      `https://${SERVER}/api/v1/auth/logout`,
    ]);
    expect(logout.status).toBe(200);
    // curl exits 0 when the server ends the stream; the bound only catches a stream that never ends.
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still open after 15 s'), 15_000))]);
    if (code === 'still open after 15 s') stream.kill();
    expect(code).toBe(0);
  });

  it('a flood of wrong passwords from twelve addresses (72 failures, past the global limit of 30) cannot lock the owner out, and API tokens keep working', async () => {
    const attacker = await lab.client(undefined, '10.98.0.20/24');
    const addresses = Array.from({ length: 12 }, (_, i) => `10.98.0.${160 + i}`);
    for (const address of addresses) await attacker.addAddress('eth0', `${address}/24`);
    const statuses: number[] = [];
    for (const address of addresses) {
      for (let i = 0; i < 6; i++) statuses.push((await login(attacker, `wrong guess ${i}`, address)).status);
    }
    // Each address was refused (429) before it had guessed six times.
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(12);
    expect((await login(attacker, TEST_ADMIN_PASSWORD, addresses[0])).status).toBe(429);
    // The owner, from their own desk, and scripts with a token are not affected.
    expect((await login(desk, TEST_ADMIN_PASSWORD)).status).toBe(200);
    expect((await api.request('GET', '/api/v1/status')).status).toBe(200);
  }, 180_000);
});
