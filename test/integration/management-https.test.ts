// The management plane over HTTPS on a real rackboot in a namespace lab, driven
// with curl from another namespace: the generated certificate (0600 in the state
// directory, the fingerprint rackboot logs is the one openssl computes) trusted
// with --cacert or --pinnedpubkey; the UI and API only on the addresses in
// http.management; over plain HTTP, boot files and scripts still served, UI and
// API GETs redirected to HTTPS, API writes refused; the session cookie Secure.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DhcpLab } from '../helpers/dhcp-lab.js';
import { ExecError } from '../helpers/exec.js';
import { startRackboot, stopRackboot } from '../helpers/lab.js';
import type { Netns } from '../helpers/netns.js';
import type { LogLine, RackbootProcess } from '../helpers/rackboot-process.js';

const SERVER = '10.97.0.1';
/** A second address of rackboot's interface, outside http.management.listen. */
const OTHER = '10.97.0.2';

interface Reply {
  exit: number;
  status: number;
  headers: string;
  body: string;
}

describe('HTTPS management plane on a real rackboot', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let dir: string;
  let admin: Netns;
  let tls: LogLine;
  let certFile: string;

  /** curl from the admin namespace; never throws: the exit code says why a connection failed. */
  const curl = async (args: string[]): Promise<Reply> => {
    try {
      const out = await admin.exec(['curl', '-sS', '--max-time', '10', '-D', '-', '-w', '\n%{http_code}', ...args]);
      const cut = out.lastIndexOf('\n');
      const text = out.slice(0, cut);
      const split = text.indexOf('\r\n\r\n');
      return { exit: 0, status: Number(out.slice(cut + 1)), headers: text.slice(0, split), body: text.slice(split + 4) };
    } catch (error) {
      if (error instanceof ExecError && error.exitCode !== null) return { exit: error.exitCode, status: 0, headers: '', body: error.stderr };
      throw error;
    }
  };

  beforeAll(async () => {
    ({ lab, server, dir } = await startRackboot({
      address: `${SERVER}/24`,
      files: { vmlinuz: 'kernel bytes' },
      prepare: async ({ lab: l }) => {
        await l.server.exec(['ip', 'addr', 'add', `${OTHER}/24`, 'dev', 'eth0']);
      },
      yaml: ({ root }) => `
interface: eth0
server_address: ${SERVER}
pools:
  - subnet: 10.97.0.0/24
    range: 10.97.0.100-10.97.0.150
boot:
  root: ${root}
http:
  management:
    listen: [${SERVER}]
`,
    }));
    admin = await lab.client(undefined, '10.97.0.9/24');
    tls = await server.waitFor((l) => l.msg.startsWith('management https certificate SHA-256 '));
    certFile = tls.certFile as string;
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  it('made a certificate at first start, 0600 in the state directory, whose fingerprint it logged', () => {
    expect(certFile).toBe(join(dir, 'state', 'management-cert.pem'));
    expect(statSync(certFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state', 'management-key.pem')).mode & 0o777).toBe(0o600);
    const openssl = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim();
    expect(tls.msg).toBe(`management https certificate SHA-256 ${openssl.replace(/^sha256 Fingerprint=/, '')}`);
    expect(tls.listen).toBe(`${SERVER}:443`);
  });

  it('serves the API over HTTPS to curl trusting only that certificate, or its pinned key', async () => {
    const trusted = await curl(['--cacert', certFile, `https://${SERVER}/api/v1/auth/state`]);
    expect(trusted).toMatchObject({ exit: 0, status: 200 });
    expect(JSON.parse(trusted.body)).toEqual({ setupDone: false, authenticated: false });
    const pinned = await curl(['-k', '--pinnedpubkey', tls.pin as string, `https://${SERVER}/api/v1/auth/state`]);
    expect(pinned).toMatchObject({ exit: 0, status: 200 });
    // Without trust, or with another key pinned, curl refuses the server.
    expect((await curl([`https://${SERVER}/api/v1/auth/state`])).exit).toBe(60);
    expect((await curl(['-k', '--pinnedpubkey', 'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', `https://${SERVER}/api/v1/auth/state`])).exit).toBe(90);
    const page = await curl(['--cacert', certFile, `https://${SERVER}/`]);
    expect(page.status).toBe(200);
    expect(page.headers).toMatch(/content-type: text\/html/i);
  });

  it('sets the session cookie Secure over HTTPS', async () => {
    const line = await server.waitFor((l) => l.msg.startsWith('setup token: '));
    const setup = await curl([
      '--cacert',
      certFile,
      '-H',
      'Content-Type: application/json',
      '--data',
      JSON.stringify({ token: line.msg.slice('setup token: '.length), password: 'correct horse battery staple' }),
      `https://${SERVER}/api/v1/auth/setup`,
    ]);
    expect(setup.status).toBe(200);
    expect(setup.headers).toMatch(/^set-cookie: rackboot_session=[^;]+; HttpOnly; SameSite=Strict; Path=\/; Secure\r?$/im);
  });

  it('is not reachable on an address outside http.management', async () => {
    expect((await curl(['--cacert', certFile, `https://${OTHER}/api/v1/auth/state`])).exit).toBe(7); // connection refused
  });

  it('over plain HTTP serves boot files and scripts, redirects UI and API reads to HTTPS, and refuses API writes', async () => {
    const kernel = await curl([`http://${SERVER}/vmlinuz`]);
    expect(kernel).toMatchObject({ status: 200, body: 'kernel bytes' });
    expect((await curl([`http://${SERVER}/boot.ipxe?mac=52:54:00:97:00:01`])).body).toMatch(/^#!ipxe/);
    const ui = await curl([`http://${SERVER}/`]);
    expect(ui.status).toBe(308);
    expect(ui.headers).toMatch(/^location: https:\/\/10\.97\.0\.1\/\r?$/im);
    const read = await curl([`http://${SERVER}/api/v1/nodes?stage=off`]);
    expect(read.status).toBe(308);
    expect(read.headers).toMatch(/^location: https:\/\/10\.97\.0\.1\/api\/v1\/nodes\?stage=off\r?$/im);
    // From the other address, the redirect goes to where HTTPS answers.
    expect((await curl([`http://${OTHER}/`])).headers).toMatch(/^location: https:\/\/10\.97\.0\.1\/\r?$/im);
    // Following the redirect with the certificate trusted reaches the API.
    expect((await curl(['-L', '--cacert', certFile, `http://${SERVER}/api/v1/auth/state`])).status).toBe(200);
    const login = await curl([
      '-H',
      'Content-Type: application/json',
      '--data',
      '{"password":"correct horse battery staple"}',
      `http://${SERVER}/api/v1/auth/login`,
    ]);
    expect(login.status).toBe(403);
    expect(JSON.parse(login.body)).toMatchObject({ error: 'https_required' });
    expect(login.headers).not.toMatch(/set-cookie/i);
    // The booted callback stays on plain HTTP (an unknown node: 404, not a redirect).
    expect((await curl([`http://${SERVER}/api/v1/booted?mac=52:54:00:97:00:01`])).status).toBe(404);
  });
});

describe("the operator's certificate, a management interface and plain_http on a real rackboot", () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let admin: Netns;
  let certFile: string;

  beforeAll(async () => {
    ({ lab, server } = await startRackboot({
      address: `${SERVER}/24`,
      prepare: ({ dir }) => {
        certFile = join(dir, 'operator-cert.pem');
        execFileSync('openssl', [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          join(dir, 'operator-key.pem'),
          '-out',
          certFile,
          '-days',
          '2',
          '-subj',
          '/CN=rackboot operator test',
          '-addext',
          `subjectAltName=IP:${SERVER}`,
        ]);
      },
      yaml: ({ root, dir }) => `
interface: eth0
pools:
  - subnet: 10.97.0.0/24
    range: 10.97.0.100-10.97.0.150
boot:
  root: ${root}
http:
  management:
    interface: eth0
    port: 8443
    cert: ${join(dir, 'operator-cert.pem')}
    key: ${join(dir, 'operator-key.pem')}
    plain_http: true
`,
    }));
    admin = await lab.client(undefined, '10.97.0.9/24');
  }, 120_000);

  afterAll(async () => {
    expect(await stopRackboot({ lab, server })).toBe(0);
  });

  it('serves HTTPS with the operator certificate on the interface’s address, and the UI and API on plain HTTP too, with a warning', async () => {
    const tls = await server.waitFor((l) => l.msg.startsWith('management https certificate SHA-256 '));
    const openssl = execFileSync('openssl', ['x509', '-in', certFile, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim();
    expect(tls).toMatchObject({ source: 'operator', certFile, listen: `${SERVER}:8443` });
    expect(tls.msg.endsWith(openssl.replace(/^sha256 Fingerprint=/, ''))).toBe(true);
    expect(await admin.exec(['curl', '-sS', '--cacert', certFile, `https://${SERVER}:8443/api/v1/auth/state`])).toContain('"setupDone":false');
    expect(server.lines.some((l) => l.level === 'warn' && /plain_http is on/.test(l.msg))).toBe(true);
    expect(await admin.exec(['curl', '-sS', `http://${SERVER}/api/v1/auth/state`])).toContain('"setupDone":false');
  });
});
