/**
 * The admin shell end to end, in headless Chromium against browser mode (`npm start` where Electron
 * cannot run): the one-time link signs in and leaves the address bar, the header shows the
 * connection, every registered page opens from the sidebar without a console error or warning, the
 * language switch translates the shell (and is remembered), and each page is saved as a screenshot in
 * docs/screenshots/<page>.png for the README and for people to look at.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commonStrings } from '../../src-renderer/i18n/common';
import { launchBrowser, settle, watchConsole, type ConsoleProblems } from '../helpers/browser';
import { startBrowserMode, type BrowserModeShop } from '../helpers/browser-mode';
import { send } from '../helpers/http';
import { SCREENSHOTS } from '../helpers/screenshots';

/** Saved by admin-flow.test.ts (orders, ledger, settings) and simulator.test.ts with real data on them. */
const SHOWN_IN_USE = new Set(['orders', 'ledger', 'settings', 'simulator']);

let shop: BrowserModeShop;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let problems: ConsoleProblems;

beforeAll(async () => {
  shop = await startBrowserMode();
  // A shop with something in it: two products, codes, and one order.
  const auth = { authorization: `Bearer ${shop.adminToken}` };
  const created = await send(shop.baseUrl, '/api/v1/admin/products', {
    method: 'POST',
    headers: auth,
    body: { name: 'Steam 钱包 50', price: { amount: 5000, currency: 'CNY' } },
  });
  expect(created.status).toBe(201);
  const productId = (created.json as { product: { id: string } }).product.id;
  await send(shop.baseUrl, '/api/v1/admin/products', {
    method: 'POST',
    headers: auth,
    body: { name: 'App Store 100', price: { amount: 10000, currency: 'CNY' } },
  });
  const codes = Array.from({ length: 12 }, (_, i) => `SHELL-E2E-${String(i).padStart(4, '0')}`).join('\n');
  const imported = await send(shop.baseUrl, `/api/v1/admin/products/${productId}/keys`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'text/plain' },
    body: codes,
  });
  expect(imported.status).toBe(200);
  const order = await send(shop.baseUrl, '/api/v1/orders', {
    method: 'POST',
    headers: { 'idempotency-key': `shell-e2e-${Date.now()}` },
    body: { productId, quantity: 1, email: 'buyer@example.com' },
  });
  expect(order.status).toBe(201);

  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1360, height: 860 }, locale: 'en-US', colorScheme: 'light' });
  problems = watchConsole(context);
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
});

const htmlAttribute = (name: string): Promise<string | null> => page.locator('html').getAttribute(name);

describe('the admin shell in browser mode', () => {
  it('signs in with the one-time link, drops the token from the address bar, and shows the connection', async () => {
    await page.goto(shop.adminUrl);
    await page.waitForSelector('[data-testid="connection-status"].conn--ready');
    expect(new URL(page.url()).search).toBe('');
    expect(await page.locator('[data-testid="connection-status"]').innerText()).toContain(commonStrings.en.connection.http);
    expect(problems.messages).toEqual([]);
  });

  it('opens every registered page from the sidebar without console errors, and saves a screenshot of the others', async () => {
    const links = page.locator('nav .nav__link');
    const ids: string[] = [];
    for (const link of await links.all()) ids.push(((await link.getAttribute('href')) ?? '').replace(/^#\//, ''));
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) {
      await page.locator(`nav .nav__link[href="#/${id}"]`).click();
      await page.waitForSelector(`main[data-page="${id}"]`);
      expect(await page.locator(`nav .nav__link[href="#/${id}"]`).getAttribute('aria-current')).toBe('page');
      await settle(page);
      // Pages that another end-to-end test photographs in use keep that picture.
      if (!SHOWN_IN_USE.has(id)) await page.screenshot({ path: join(SCREENSHOTS, `${id}.png`) });
      expect(problems.messages, `console problems on the ${id} page`).toEqual([]);
    }
  });

  it('switches the whole shell to Chinese, remembers it, and switches back', async () => {
    await page.goto(`${shop.baseUrl}/admin/#/${'dashboard'}`);
    await page.waitForSelector('[data-testid="language-select"]');
    await page.selectOption('[data-testid="language-select"]', 'zh-CN');
    await page.locator('html[lang="zh-CN"]').waitFor();
    const navTexts = await page.locator('nav .nav__link').allInnerTexts();
    const zhTitles = Object.values(commonStrings['zh-CN'].nav);
    for (const text of navTexts) expect(zhTitles).toContain(text);
    expect(await page.locator('.brand__tagline').innerText()).toBe(commonStrings['zh-CN'].app.tagline);

    await page.reload();
    await page.waitForSelector('[data-testid="connection-status"].conn--ready');
    expect(await htmlAttribute('lang')).toBe('zh-CN');
    expect(await page.locator('[data-testid="connection-status"]').innerText()).toContain(
      commonStrings['zh-CN'].connection.ready,
    );
    await settle(page);
    await page.screenshot({ path: join(SCREENSHOTS, 'shell-zh.png') });

    await page.selectOption('[data-testid="theme-select"]', 'dark');
    expect(await htmlAttribute('data-theme')).toBe('dark');
    await settle(page);
    await page.screenshot({ path: join(SCREENSHOTS, 'shell-dark.png') });
    await page.selectOption('[data-testid="theme-select"]', 'system');
    await page.selectOption('[data-testid="language-select"]', 'en');
    await page.locator('html[lang="en"]').waitFor();
    expect(problems.messages).toEqual([]);
  });
});
