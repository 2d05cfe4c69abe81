// The web UI in real headless Chromium against a UiTestTarget: today the
// in-memory fake API (test/web/fake-api-server.ts), which serves the built
// assets through firmware/src/http/ui.ts exactly as rackboot does. Checks go
// through the browser and the REST API only, so the same tests can run
// against the real rackboot (see target.ts).

import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildWebAssets, measureWebAssets, WEB_BUDGET_GZIP_BYTES } from '../../build/web.mjs';
import type { WebAssets } from '../../firmware/src/http/ui.js';
import { chromiumAvailable, launchChromium, screenshot, watchErrors } from './browser.js';
import type { RackbootEvent } from '../../firmware/src/model/event.js';
import { startFakeTarget, type FakeTargetOptions, type UiTestTarget } from './target.js';

const PASSWORD = 'correct horse battery';
/**
 * Event times are T0 plus fixed offsets, so the timeline's shape is the same on
 * every run; T0 is a minute ago so the browser's "now" sits just after the boot.
 */
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;

let assets: WebAssets;
let browser: Browser;
let target: UiTestTarget | undefined;
let context: BrowserContext | undefined;
let errors: string[] = [];

beforeAll(async () => {
  if (!chromiumAvailable()) throw new Error('chromium is missing: apt-get install -y chromium chromium-driver');
  assets = await buildWebAssets();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

afterEach(async () => {
  await context?.close();
  await target?.close();
  context = undefined;
  target = undefined;
  expect(errors).toEqual([]);
  errors = [];
});

async function open(options: Partial<FakeTargetOptions> = {}, viewport = { width: 1280, height: 860 }): Promise<Page> {
  target = await startFakeTarget({ assets, password: PASSWORD, ...options });
  context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  const page = await context.newPage();
  errors = watchErrors(page);
  await page.goto(target.baseUrl + '/');
  return page;
}

async function logIn(page: Page, landing = 'Rack'): Promise<void> {
  await page.getByLabel('Admin password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: landing }).waitFor();
  await page.locator('.stream.live').waitFor();
}

const mac = (index: number) => target!.mac(index);
/** Reads the API with the browser's session (GETs need no CSRF token). */
async function apiGet<T>(page: Page, path: string): Promise<T> {
  const response = await page.request.get(`${target!.baseUrl}/api/v1${path}`);
  expect(response.status(), path).toBe(200);
  return (await response.json()) as T;
}
const powerEvents = (page: Page, query = '') => apiGet<RackbootEvent[]>(page, `/events?type=power${query}`);

const card = (page: Page, mac: string) => page.locator(`li.card[data-mac="${mac}"]`);

describe('web UI in Chromium', () => {
  it('stays within the 40 kB gzip budget', () => {
    const size = measureWebAssets(assets);
    expect(size.js).toBeGreaterThan(0);
    expect(size.css).toBeGreaterThan(0);
    expect(size.total).toBeLessThan(WEB_BUDGET_GZIP_BYTES);
  });

  it('first-time setup: wrong token is refused in words, the right one sets the password and logs in', async () => {
    const page = await open({ password: undefined });
    await page.getByRole('heading', { name: 'Set up rackboot' }).waitFor();
    await screenshot(page, 'setup');
    await page.getByLabel('Setup token').fill('not-the-token');
    await page.getByLabel('Admin password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Admin password again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set password and log in' }).click();
    await expect(page.locator('#setup-token-error').textContent()).resolves.toContain('wrong setup token');
    expect(await page.getByLabel('Setup token').getAttribute('aria-invalid')).toBe('true');

    await page.getByLabel('Setup token').fill(target!.setupToken);
    await page.getByLabel('Admin password again').fill('something else');
    await page.getByRole('button', { name: 'Set password and log in' }).click();
    await expect(page.locator('#setup-again-error').textContent()).resolves.toContain('differ');

    await page.getByLabel('Admin password again').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set password and log in' }).click();
    await page.getByRole('heading', { name: 'Rack' }).waitFor();
    await page.getByText('Showing 12 of 12 nodes').waitFor();
  });

  it('login: a wrong password is said so, the right one opens the rack, logout returns to login', async () => {
    const page = await open();
    await page.getByRole('heading', { name: 'Log in to rackboot' }).waitFor();
    await page.getByLabel('Admin password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('Wrong password.').waitFor();
    await screenshot(page, 'login');
    await logIn(page);
    // A session that ends under the page (cookie gone, expired, revoked) sends it back to login.
    await context!.clearCookies();
    await page.getByRole('link', { name: 'Leases' }).click();
    await page.getByText('Your session ended; log in again.').waitFor();
    // Logging in again lands where the operator was.
    await logIn(page, 'Leases');
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You logged out.').waitFor();
    // The session is really gone: a reload lands on the login page again.
    await page.reload();
    await page.getByRole('heading', { name: 'Log in to rackboot' }).waitFor();
  });

  it('the rack follows a boot live over SSE, including a failure diagnosis', async () => {
    const page = await open();
    await logIn(page);
    const node3 = mac(3);
    expect(await card(page, node3).getAttribute('data-stage')).toBe('off');
    const stages = ['power_on', 'dhcp_discover', 'offered', 'acknowledged', 'nbp_tftp', 'ipxe_dhcp', 'script', 'kernel', 'initrd', 'booted'] as const;
    for (const [i, stage] of stages.entries()) {
      await target!.moveStage(node3, stage, { at: T0 + i * 2000 });
      await card(page, node3)
        .and(page.locator(`[data-stage="${stage}"]`))
        .waitFor();
    }
    await expect(card(page, node3).locator('.badge').textContent()).resolves.toBe('Booted');
    await expect(card(page, node3).locator('.ip').textContent()).resolves.toBe('10.0.0.3');

    const other = mac(5);
    await target!.moveStage(other, 'dhcp_discover', { at: T0 });
    await target!.moveStage(other, 'offered', { at: T0 + 1000, diagnosis: 'no_offer', detail: '4 DISCOVERs after our OFFER' });
    await card(page, other).getByText('No offer received (PXE-E51)').waitFor();
    await page.getByRole('button', { name: /Failed 1/ }).waitFor();

    // A rack mid-storm: the stage counts follow every node.
    const spread = [
      [6, 'kernel'],
      [7, 'initrd'],
      [8, 'nbp_tftp'],
      [9, 'booted'],
      [10, 'script'],
      [11, 'booted'],
      [12, 'ipxe_dhcp'],
    ] as const;
    for (const [index, stage] of spread) await target!.moveStage(mac(index), stage, { at: T0 + 30_000 + index });
    await card(page, mac(12)).and(page.locator('[data-stage="ipxe_dhcp"]')).waitFor();
    // node-0003, 0009 and 0011 have booted.
    await page.getByRole('button', { name: 'Booted 3' }).waitFor();
    await screenshot(page, 'rack');
  });

  it('a power action asks first, shows progress and result, and reaches the API', async () => {
    const page = await open();
    await logIn(page);
    const node2 = mac(2);
    await page.getByRole('button', { name: 'Power cycle node-0002' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Power cycle node-0002?').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await powerEvents(page)).toEqual([]);

    await page.getByRole('button', { name: 'Power cycle node-0002' }).click();
    await dialog.getByRole('button', { name: 'Power cycle' }).click();
    await page.getByText('Power cycle node-0002: done, power is on').waitFor();
    expect((await powerEvents(page)).map((e) => e.mac)).toEqual([node2]);
    await card(page, node2).and(page.locator('[data-stage="power_on"]')).waitFor();

    // Power off all: destructive, so confirmed first; cancelling sends nothing.
    await page.getByRole('button', { name: 'Power off all' }).click();
    await dialog.getByText('Power off the whole rack?').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await powerEvents(page)).toHaveLength(1);
    await page.getByRole('button', { name: 'Power off all' }).click();
    await dialog.getByRole('button', { name: 'Power off all' }).click();
    await page.getByText('Power off all: 12 nodes done').waitFor();
    // One power event per node of the rack, after the single one from before.
    expect(await powerEvents(page)).toHaveLength(1 + 12);
  });

  it('settings: a validation error from the API is shown at its field', async () => {
    const page = await open();
    await logIn(page);
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Default profile', { exact: true }).waitFor();
    await expect(page.getByLabel('Default profile', { exact: true }).inputValue()).resolves.toBe('ubuntu');
    // The profile disappears from the config (an operator edited and reloaded it) after the page loaded.
    await target!.removeProfile('rescue');
    await page.getByLabel('Default profile', { exact: true }).selectOption('rescue');
    await page.getByRole('button', { name: 'Save' }).click();
    const message = page.locator('#defaultProfile-error');
    await message.waitFor();
    expect(await message.textContent()).toBe('defaultProfile: no boot profile named "rescue" (known: ubuntu, local-disk)');
    expect(await page.getByLabel('Default profile', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await screenshot(page, 'settings');

    // A valid change saves and clears the error.
    await page.getByLabel('Default profile', { exact: true }).selectOption('local-disk');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/^Saved at/).waitFor();
    expect(await message.count()).toBe(0);
  });

  it('the node page draws the boot timeline and follows new stages', async () => {
    const page = await open();
    const node7 = mac(7);
    const boot: [string, number][] = [
      ['power_on', 0],
      ['dhcp_discover', 3_000],
      ['offered', 3_200],
      ['acknowledged', 3_400],
      ['nbp_tftp', 4_000],
      ['ipxe_dhcp', 9_000],
      ['script', 10_000],
      ['kernel', 11_000],
    ];
    for (const [stage, offset] of boot) await target!.moveStage(node7, stage as never, { at: T0 + offset });
    await logIn(page);
    // Recovery is shown where it is on (node-0001) and only there.
    await card(page, mac(1)).getByText('recovery on').waitFor();
    expect(await card(page, node7).getByText('recovery on').count()).toBe(0);
    await page.getByRole('link', { name: 'node-0007' }).click();
    await page.getByRole('heading', { name: 'node-0007' }).waitFor();
    await page.getByText('recovery off (failed boots are not power-cycled)').waitFor();
    const segments = page.locator('svg.timeline rect.segment');
    await segments.nth(boot.length - 1).waitFor();
    expect(await segments.evaluateAll((rects) => rects.map((r) => r.getAttribute('data-stage')))).toEqual(boot.map(([s]) => s));
    // Bars sit left to right in time order and have a width.
    const xs = await segments.evaluateAll((rects) => rects.map((r) => Number(r.getAttribute('x'))));
    expect([...xs].sort((a, b) => a - b)).toEqual(xs);
    expect(xs[0]).toBeLessThan(xs[xs.length - 1]);
    // The next stage arrives live and is drawn.
    await target!.moveStage(node7, 'initrd', { at: T0 + 14_000 });
    await segments.nth(boot.length).waitFor();
    expect(await segments.nth(boot.length).getAttribute('data-stage')).toBe('initrd');
    await page.locator('table.events tbody tr[data-type="stage"]').nth(boot.length).waitFor();
    expect(await page.locator('table.events tbody tr').first().textContent()).toContain('Initrd');

    // Next-boot selection reaches the API.
    await page.getByLabel('Next boot only').selectOption('rescue');
    await page.getByRole('button', { name: 'Set next boot' }).click();
    await page.getByText('Next boot:').waitFor();
    expect((await apiGet<{ nextBootProfile?: string }>(page, `/nodes/${node7}`)).nextBootProfile).toBe('rescue');
    await screenshot(page, 'node');
  });

  it('each card and the node page show the architecture and the boot loader', async () => {
    const page = await open();
    await logIn(page);
    // From the API: node-0001 x64 UEFI with GRUB, node-0003 arm64 UEFI HTTP with iPXE, node-0004 not seen yet.
    const platform = (index: number) => card(page, mac(index)).locator('.platform');
    await platform(1).waitFor();
    expect(await platform(1).textContent()).toBe('x64 UEFI · GRUB');
    expect(await platform(3).textContent()).toBe('arm64 UEFI HTTP · iPXE');
    expect(await platform(4).textContent()).toBe('arch unknown · iPXE');
    await page.getByRole('link', { name: 'node-0001' }).click();
    await page.getByRole('heading', { name: 'node-0001' }).waitFor();
    expect(await page.locator('dl.facts dd.arch').textContent()).toBe('x64 UEFI');
    expect(await page.locator('dl.facts dd.loader').textContent()).toBe('GRUB');
    await page.goto(`${target!.baseUrl}/#/node/${encodeURIComponent(mac(4))}`);
    await page.getByRole('heading', { name: 'node-0004' }).waitFor();
    expect(await page.locator('dl.facts dd.arch').textContent()).toBe('not seen yet');
    expect(await page.locator('dl.facts dd.loader').textContent()).toBe('iPXE');
  });

  it('1,000 nodes render, and search and stage filters narrow them', async () => {
    const page = await open({ nodes: 1000 });
    await logIn(page);
    await page.getByText('Showing 1000 of 1000 nodes').waitFor();
    expect(await page.locator('li.card').count()).toBe(1000);
    await page.getByLabel('Search').fill('node-0999');
    await page.getByText('Showing 1 of 1000 nodes').waitFor();
    await card(page, mac(999)).waitFor();

    await page.getByLabel('Search').fill('');
    for (let i = 1; i <= 50; i++) await target!.moveStage(mac(i * 20), 'kernel');
    await page.getByLabel('Stage', { exact: true }).selectOption('kernel');
    await page.getByText('Showing 50 of 1000 nodes').waitFor();
    await page.getByLabel('Search').fill('rack25 even');
    // Every word must match: rack25 holds node-0961..1000; of those at the kernel stage (980, 1000) both are even.
    await page.getByText('Showing 2 of 1000 nodes').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByText('Showing 1000 of 1000 nodes').waitFor();

    // A boot storm: every node moves at once and the grid keeps up.
    for (let i = 1; i <= 1000; i++) await target!.moveStage(mac(i), 'dhcp_discover');
    await page.waitForFunction(() => document.querySelectorAll('li.card[data-stage="dhcp_discover"]').length === 1000);
    // (CSS locators here: accessibility-tree queries over 3,000 buttons are slow in the driver, not the page.)
    await page.locator('button.chip', { hasText: 'DHCP discover 1000' }).waitFor();
  });

  it('leases, profiles, status and the event log load and show the API data', async () => {
    const page = await open();
    await target!.moveStage(mac(4), 'acknowledged');
    await logIn(page);
    await page.getByRole('link', { name: 'Leases' }).click();
    await page.getByRole('cell', { name: '10.0.0.4' }).waitFor();
    await page.getByRole('link', { name: 'Profiles' }).click();
    await page.getByRole('heading', { name: /ubuntu linux default/ }).waitFor();
    await page.getByRole('link', { name: 'Status' }).click();
    await page.getByText('proxyDHCP').or(page.getByText('DHCP server')).waitFor();
    await page.getByRole('rowheader', { name: 'tftp.transfers' }).waitFor();
    await page.getByRole('link', { name: 'Events' }).click();
    const rows = page.locator('table.events tbody tr');
    await rows.first().getByRole('link', { name: 'node-0004' }).waitFor();
    // Following live: a new event appears at the top; the type filter narrows the list.
    await target!.moveStage(mac(9), 'offered');
    await rows.first().getByRole('link', { name: 'node-0009' }).waitFor();
    expect(await rows.first().textContent()).toContain('Offered');
    await page.getByLabel('Type').selectOption('recovery');
    await page.getByText('No events.').waitFor();
    await page.getByLabel('Type').selectOption('stage');
    await rows.first().getByRole('link', { name: 'node-0009' }).waitFor();
    expect(new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-type'))))).toEqual(new Set(['stage']));
    await screenshot(page, 'events');
  });

  it('works on a phone-sized screen and by keyboard', async () => {
    const page = await open({}, { width: 390, height: 844 });
    await page.getByLabel('Admin password').focus();
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Rack' }).waitFor();
    await page.getByText('Showing 12 of 12 nodes').waitFor();
    await screenshot(page, 'phone-rack');
    // Nothing wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    // Tab reaches the node links; Enter opens the node page.
    const link = page.getByRole('link', { name: 'node-0001' });
    await link.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'node-0001' }).waitFor();
    await page.getByText('No boot seen yet.').waitFor();
  });
});
