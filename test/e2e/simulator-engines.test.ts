/**
 * The Simulator page on the real engines, end to end, as a trainer uses it: browser mode started with
 * ONCEKEY_SIM_POSTGRES_URL and ONCEKEY_SIM_REDIS_URL pointing at a throw-away PostgreSQL and Redis of the
 * test's own (test/helpers/postgres.ts, redis.ts; never mocks), headless Chromium. The incident preset
 * on PostgreSQL: the naive read-then-write oversells there too, the article's `SELECT ... FOR UPDATE`
 * sells the one key once; on Redis the article's Lua gate sells it once; the summary line names the
 * engine each time. Saves docs/screenshots/simulator-engines.png. Skipped, saying why, where
 * redis-server is not installed (CI installs it).
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, settle, watchConsole, type ConsoleProblems } from '../helpers/browser';
import { startBrowserMode, type BrowserModeShop } from '../helpers/browser-mode';
import { startPostgres, type PostgresServer } from '../helpers/postgres';
import { redisSkipReason, startRedis, type RedisServer } from '../helpers/redis';
import { SCREENSHOTS } from '../helpers/screenshots';

const skipped = redisSkipReason();
if (skipped) console.warn(`Simulator page on real engines skipped: ${skipped}`);

let pg: PostgresServer | undefined;
let redis: RedisServer | undefined;
let shop: BrowserModeShop | undefined;
let browser: Browser | undefined;
let page: Page;
let problems: ConsoleProblems;

beforeAll(async () => {
  if (skipped) return;
  pg = await startPostgres();
  const started = await startRedis();
  if ('skipped' in started) throw new Error(started.skipped);
  redis = started;
  shop = await startBrowserMode({ env: { ONCEKEY_SIM_POSTGRES_URL: pg.url, ONCEKEY_SIM_REDIS_URL: redis.url } });
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, locale: 'en-US', colorScheme: 'light' });
  problems = watchConsole(context);
  page = await context.newPage();
  page.setDefaultTimeout(60_000);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
  await redis?.stop();
  await pg?.stop();
});

const textOf = (testId: string) => page.locator(`[data-testid="${testId}"]`).innerText();

/** Runs the scenario on screen live and waits for the answer naming `strategy` and `engine`. */
async function runLive(strategy: string, engineLabel: string): Promise<{ sold: number; oversold: number }> {
  await page.locator('[data-testid="sim-strategy"]').selectOption(strategy);
  await page.locator('[data-testid="sim-run"]').click();
  await page
    .locator('[data-testid="sim-summary-line"]', { hasText: `${strategy} · Live (worker threads) · ${engineLabel} · 100 / 1` })
    .waitFor({ timeout: 90_000 });
  return { sold: Number(await textOf('sim-sold')), oversold: Number(await textOf('sim-oversold')) };
}

describe.skipIf(skipped !== undefined)(
  `the Simulator page on PostgreSQL and Redis${skipped ? ` (skipped: ${skipped})` : ''}`,
  () => {
    it(
      'offers the engines, and the incident oversells naively on PostgreSQL and not with FOR UPDATE',
      { timeout: 240_000 },
      async () => {
        await page.goto(shop!.adminUrl);
        await page.waitForSelector('[data-testid="connection-status"].conn--ready');
        await page.locator('nav .nav__link[href="#/simulator"]').click();
        await page.waitForSelector('main[data-page="simulator"]');
        await page.locator('[data-testid="sim-preset-incident"]').click();
        const options = await page.locator('[data-testid="sim-engine"] option').all();
        const engines = await Promise.all(options.map((option) => option.getAttribute('value')));
        expect(engines).toEqual(['sqlite', 'postgres', 'redis']);
        expect(await page.locator('[data-testid="sim-engine-hint"]').count()).toBe(0);

        await page.locator('[data-testid="sim-engine"]').selectOption('postgres');
        const naive = await runLive('naive', 'PostgreSQL (scratch schema)');
        expect(naive.oversold).toBeGreaterThan(0);
        expect(naive.oversold).toBe(naive.sold - 1);
        expect(await textOf('sim-anomalies')).toContain('Key sold twice');

        expect(await runLive('for-update', 'PostgreSQL (scratch schema)')).toEqual({ sold: 1, oversold: 0 });
      },
    );

    it(
      "sells the one key once through the article's Lua gate on Redis and saves a screenshot",
      { timeout: 180_000 },
      async () => {
        await page.locator('[data-testid="sim-engine"]').selectOption('redis');
        expect(await runLive('counter-gate', 'Redis + PostgreSQL')).toEqual({ sold: 1, oversold: 0 });
        await page.waitForSelector('[data-testid="sim-timeline"]');
        await settle(page);
        await page.screenshot({ path: join(SCREENSHOTS, 'simulator-engines.png') });
        expect(problems.messages).toEqual([]);
      },
    );
  },
);
