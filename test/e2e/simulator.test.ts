/**
 * The Simulator page end to end, in headless Chromium against browser mode: press the incident preset,
 * Run it live (100 buyers in worker threads of the real server), see the oversold count and the
 * 100-row timeline, step a deterministic session, compare every strategy, and save a screenshot to
 * docs/screenshots/simulator.png.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, settle, watchConsole, type ConsoleProblems } from '../helpers/browser';
import { startBrowserMode, type BrowserModeShop } from '../helpers/browser-mode';
import { SCREENSHOTS } from '../helpers/screenshots';

let shop: BrowserModeShop;
let browser: Browser;
let page: Page;
let problems: ConsoleProblems;

beforeAll(async () => {
  shop = await startBrowserMode();
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'en-US', colorScheme: 'light' });
  problems = watchConsole(context);
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
});

const textOf = (testId: string) => page.locator(`[data-testid="${testId}"]`).innerText();

describe('the Simulator page', () => {
  it('runs the incident preset live and shows the oversold count and the timeline', { timeout: 180_000 }, async () => {
    await page.goto(shop.adminUrl);
    await page.waitForSelector('[data-testid="connection-status"].conn--ready');
    await page.locator('nav .nav__link[href="#/simulator"]').click();
    await page.waitForSelector('main[data-page="simulator"]');
    await page.locator('[data-testid="sim-preset-incident"]').click();
    await page.locator('[data-testid="sim-run"]').click();
    await page.waitForSelector('[data-testid="sim-timeline"]', { timeout: 90_000 });
    const oversold = Number(await textOf('sim-oversold'));
    const sold = Number(await textOf('sim-sold'));
    expect(oversold).toBeGreaterThan(0);
    expect(oversold).toBe(sold - 1);
    expect(await page.locator('[data-testid="sim-timeline"]').getAttribute('data-rows')).toBe('100');
    expect(await page.locator('[data-testid="sim-timeline"] canvas').getAttribute('aria-label')).toMatch(
      /^Timeline of 100 buyers: \d+ sold, \d+ oversold$/,
    );
    expect(await textOf('sim-anomalies')).toContain('Key sold twice');
  });

  it('steps a deterministic session by hand and goes back', { timeout: 60_000 }, async () => {
    await page.locator('[data-testid="sim-step"]').click();
    await page.locator('[data-testid="sim-session"]', { hasText: 'Step 1 ·' }).waitFor();
    await page.locator('[data-testid="sim-step"]').click();
    await page.locator('[data-testid="sim-session"]', { hasText: 'Step 2 ·' }).waitFor();
    await page.locator('[data-testid="sim-back"]').click();
    await page.locator('[data-testid="sim-session"]', { hasText: 'Step 1 ·' }).waitFor();
    await page.locator('[data-testid="sim-finish"]').click();
    await page.locator('[data-testid="sim-session"]', { hasText: 'every buyer has an answer' }).waitFor();
    expect(Number(await textOf('sim-sold'))).toBeGreaterThan(0);
  });

  it('runs live again, compares every strategy and saves a screenshot', { timeout: 240_000 }, async () => {
    await page.locator('[data-testid="sim-run"]').click();
    // The session's result is on screen until the live run answers: wait for the live one.
    await page.locator('[data-testid="sim-summary-line"]', { hasText: 'naive · Live' }).waitFor({ timeout: 90_000 });
    await page.waitForSelector('[data-testid="sim-latency"] svg');
    await page.locator('[data-testid="sim-compare"]').click();
    await page.waitForSelector('[data-testid="sim-before-after"]', { timeout: 180_000 });
    const rows = await page.locator('[data-testid="sim-compare-table"] tbody tr').allInnerTexts();
    expect(rows).toHaveLength(8);
    expect(rows[0]).toMatch(/^naive/);
    for (const row of rows.slice(1)) expect(row.split('\t')[2]).toBe('0');
    await settle(page);
    await page.screenshot({ path: join(SCREENSHOTS, 'simulator.png'), fullPage: true });
    expect(problems.messages).toEqual([]);
  });
});
