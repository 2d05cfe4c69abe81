// The web UI in headless Chromium against a real rackboot in a namespace lab
// (ui.test.ts covers every page against the in-memory fake API; this is the
// same UI on the real path): first-time setup with the token from rackboot's
// log, logging out and in, the rack following a real node's DHCP live over SSE, a power action
// through a `command` power channel, a validation error from the real API, and
// the node's timeline. Chromium runs inside a namespace on the lab's segment,
// through a wrapper that playwright starts as the browser. The UI is served over
// HTTPS with rackboot's self-signed certificate, which Chromium is told to trust
// by the key pin rackboot logged (--ignore-certificate-errors-spki-list), as an
// operator accepts it after comparing the fingerprint.
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhcpLab, waitForEvent } from '../helpers/dhcp-lab.js';
import type { Netns } from '../helpers/netns.js';
import type { RackbootProcess } from '../helpers/rackboot-process.js';
import { CHROMIUM_PATH, chromiumAvailable, watchErrors } from './browser.js';

const SERVER = '10.90.0.1';
const PASSWORD = 'correct horse battery';
const NODE = { name: 'node-0001', mac: '52:54:00:90:00:01' };
const OTHER = { name: 'node-0002', mac: '52:54:00:90:00:02' };

describe('web UI on a real rackboot', () => {
  let lab: DhcpLab;
  let server: RackbootProcess;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let relayLog: string;

  beforeAll(async () => {
    if (!chromiumAvailable()) throw new Error('chromium is missing: run make setup');
    lab = await DhcpLab.create(`${SERVER}/24`);
    const root = join(lab.dir, 'root');
    await mkdir(root);
    await writeFile(join(root, 'vmlinuz'), Buffer.alloc(1024 * 1024, 1));
    await writeFile(join(root, 'initrd.img'), Buffer.alloc(1024 * 1024, 2));
    relayLog = join(lab.dir, 'relay.log');
    const relay = join(lab.dir, 'relay.sh');
    await writeFile(relay, `#!/bin/sh\necho "$1 $2" >> ${relayLog}\n`);
    await chmod(relay, 0o755);
    const config = await lab.writeConfig(`
interface: eth0
pools:
  - subnet: 10.90.0.0/24
    range: 10.90.0.100-10.90.0.150
hosts:
  - { mac: "${NODE.mac}", hostname: ${NODE.name}, power_channel: relay1 }
  - { mac: "${OTHER.mac}", hostname: ${OTHER.name} }
power:
  channels:
    relay1: { driver: command, on: [${relay}, on, "{channel}"], off: [${relay}, off, "{channel}"], cycle: [${relay}, cycle, "{channel}"] }
boot:
  root: ${root}
  profiles:
    default: { kind: linux, kernel: vmlinuz, initrds: [initrd.img], cmdline: "console=ttyS0" }
    disk: { kind: local }
`);
    server = await lab.startServer(['--config', config]);
    // The browser sits on the cluster network like the operator's laptop.
    const desk = await lab.client(undefined, '10.90.0.9/24');
    const wrapper = join(lab.dir, 'chromium-in-namespace.sh');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec ${desk.name} ${CHROMIUM_PATH} "$@"\n`);
    await chmod(wrapper, 0o755);
    const tls = await server.waitFor((l) => l.msg.startsWith('management https certificate SHA-256 '));
    browser = await chromium.launch({
      executablePath: wrapper,
      args: [
        `--ignore-certificate-errors-spki-list=${(tls.pin as string).replace(/^sha256\/\//, '')}`,
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 860 }, reducedMotion: 'reduce' })).newPage();
    errors = watchErrors(page);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    const code = await server?.stop();
    await lab?.destroy();
    expect(errors, errors.join('\n')).toEqual([]);
    expect(code).toBe(0);
  });

  const card = (mac: string) => page.locator(`li.card[data-mac="${mac}"]`);

  it('sets the admin password with the setup token rackboot logged', async () => {
    const line = await server.waitFor((l) => l.msg.startsWith('setup token: '));
    // Typed as http://: rackboot sends the browser to HTTPS before anything secret is asked.
    await page.goto(`http://${SERVER}/`);
    expect(page.url()).toBe(`https://${SERVER}/`);
    await page.getByRole('heading', { name: 'Set up rackboot' }).waitFor();
    await page.getByLabel('Setup token').fill(line.msg.slice('setup token: '.length));
    await page.getByLabel('Admin password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Admin password again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set password and log in' }).click();
    await page.getByRole('heading', { name: 'Rack' }).waitFor();
    await page.locator('.stream.live').waitFor();
    await page.getByText('Showing 2 of 2 nodes').waitFor();
    const [cookie] = await page.context().cookies(`https://${SERVER}/`);
    expect(cookie).toMatchObject({ name: 'rackboot_session', secure: true, httpOnly: true, sameSite: 'Strict' });
    // Log out and back in with the new password.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You logged out.').waitFor();
    await page.getByLabel('Admin password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong password.').waitFor();
    await page.getByLabel('Admin password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Rack' }).waitFor();
    await page.locator('.stream.live').waitFor();
  }, 60_000);

  it('follows a real node booting, live over SSE', async () => {
    expect(await card(NODE.mac).getAttribute('data-stage')).toBe('off');
    // The node's PXE ROM, as a BIOS PXE client would ask (option 60 PXEClient, option 93 arch 0).
    const ns: Netns = await lab.client(NODE.mac);
    const { script, events } = await lab.clientScript('udhcpc', 'node');
    ns.spawn(['udhcpc', '-f', '-i', 'eth0', '-t', '20', '-T', '2', '-s', script, '-V', 'PXEClient:Arch:00000:UNDI:002001', '-x', '0x5d:0000']);
    await waitForEvent(events, /^bound /, 30_000);
    await card(NODE.mac).and(page.locator('[data-stage="acknowledged"]')).waitFor({ timeout: 20_000 });
    // Its kernel and initrd over HTTP, as iPXE would fetch them.
    await ns.exec(['curl', '-sS', '-o', '/dev/null', `http://${SERVER}/vmlinuz`]);
    await card(NODE.mac).and(page.locator('[data-stage="kernel"]')).waitFor({ timeout: 20_000 });
  }, 90_000);

  it("draws the node's timeline from its real events", async () => {
    await page.goto(`https://${SERVER}/#/`);
    await page.getByRole('link', { name: NODE.name, exact: true }).click();
    await page.getByRole('heading', { name: NODE.name }).waitFor();
    const segments = page.locator('svg.timeline rect.segment');
    await segments.first().waitFor();
    const stages = await segments.evaluateAll((rects) => rects.map((r) => r.getAttribute('data-stage')));
    expect(stages).toEqual(['dhcp_discover', 'offered', 'acknowledged', 'kernel']);
  }, 60_000);

  it('power-cycles a node through its relay after asking', async () => {
    await page.goto(`https://${SERVER}/#/`);
    await page.getByRole('button', { name: `Power cycle ${NODE.name}` }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(`Power cycle ${NODE.name}?`).waitFor();
    await dialog.getByRole('button', { name: 'Power cycle' }).click();
    await page.getByText(new RegExp(`Power cycle ${NODE.name}: done`)).waitFor();
    expect(await readFile(relayLog, 'utf8')).toBe('cycle relay1\n');
    await card(NODE.mac).and(page.locator('[data-stage="power_on"]')).waitFor();
  }, 60_000);

  it("shows the real API's validation error at its field", async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    const select = page.getByLabel('Default profile', { exact: true });
    await select.waitFor();
    // A profile name the configuration does not have, as a stale form would send it.
    await select.evaluate((el) => {
      const option = document.createElement('option');
      option.value = 'gone';
      option.textContent = 'gone';
      el.appendChild(option);
    });
    await select.selectOption('gone');
    await page.getByRole('button', { name: 'Save' }).click();
    const message = page.locator('#defaultProfile-error');
    await message.waitFor();
    expect(await message.textContent()).toContain('no profile "gone"');
    await select.selectOption('disk');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/^Saved at/).waitFor();
  }, 60_000);
});
