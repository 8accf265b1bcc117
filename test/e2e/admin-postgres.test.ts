/**
 * The admin app on a PostgreSQL shop, end to end, as an owner with two servers uses it: browser mode
 * started with ONCEKEY_DATABASE_URL (`npm start` on a PostgreSQL shop) beside a second `serve
 * --database` process on the same database (the other host behind the load balancer), a real
 * PostgreSQL started by the test, headless Chromium. The Dashboard shows the seeded stock; a sale made
 * on the OTHER server appears on the Orders page without a reload (NOTIFY between the servers); the
 * owner marks it paid and reveals the code the buyer got from the other server; the ledger verifies;
 * Settings names the database without its password and says pg_dump backs it up. Saves
 * docs/screenshots/admin-postgres.png and settings-postgres.png.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, watchConsole, type ConsoleProblems } from '../helpers/browser';
import { startBrowserMode, type BrowserModeShop } from '../helpers/browser-mode';
import { freshKey, send, startServe, type ServeProcess } from '../helpers/http';
import { seedPgShop, startPgShops, type PgShops, type SeededPgShop } from '../helpers/pg-shop';
import { SCREENSHOTS } from '../helpers/screenshots';

let pgShops: PgShops;
let seeded: SeededPgShop;
let app: BrowserModeShop | undefined;
let other: ServeProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let problems: ConsoleProblems;

beforeAll(async () => {
  pgShops = await startPgShops();
  seeded = await seedPgShop(pgShops, 5);
  app = await startBrowserMode({ dataDir: seeded.dir, env: { ONCEKEY_DATABASE_URL: seeded.url } });
  other = await startServe(seeded.dir, ['--database', seeded.url], 60_000);
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 }, locale: 'en-US', colorScheme: 'light' });
  problems = watchConsole(context);
  page = await context.newPage();
  page.setDefaultTimeout(20_000);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await other?.stop();
  await app?.stop();
  seeded?.cleanup();
  await pgShops?.stop();
}, 60_000);

async function go(hash: string): Promise<void> {
  await page.evaluate((h) => {
    (globalThis as unknown as { location: { hash: string } }).location.hash = h;
  }, hash);
}

describe('the admin app on a PostgreSQL shop with two servers', () => {
  it(
    'shows a sale made on the other server live, marks it paid, reveals its code, verifies the ledger',
    { timeout: 180_000 },
    async () => {
      expect(app!.stderr()).toMatch(/PostgreSQL/);
      await page.goto(app!.adminUrl);
      await page.waitForSelector('[data-testid="connection-status"].conn--ready');
      await go('#/dashboard');
      await expect.poll(async () => page.getByTestId('total-available').innerText()).toContain('5');

      await go('#/orders');
      await page.getByText('No orders yet').waitFor();
      // A buyer reaches the other server.
      const bought = await send(other!.url, '/api/v1/orders', {
        method: 'POST',
        headers: { 'idempotency-key': freshKey() },
        body: { productId: seeded.productId, quantity: 1, email: 'buyer@example.com' },
      });
      expect(bought.status).toBe(201);
      const { id: orderId, accessToken } = (bought.json as { order: { id: string; accessToken: string } }).order;
      const row = page.getByRole('row').filter({ hasText: orderId });
      await row.waitFor();
      expect(await row.innerText()).toContain('Awaiting payment');

      await row.click();
      const panel = page.getByRole('complementary', { name: `Order ${orderId}` });
      await panel.getByRole('button', { name: 'Mark paid (test payment)' }).click();
      const dialog = page.getByRole('dialog', { name: 'Confirm a payment by hand?' });
      await dialog.getByRole('button', { name: 'Mark paid (test payment)' }).click();
      await dialog.waitFor({ state: 'detached' });
      await panel.getByText('Paid and delivered').waitFor();
      await panel.getByRole('button', { name: 'Reveal' }).click();
      const code = panel.locator('code.order-keys__code');
      await code.waitFor();
      const buyerView = await send(other!.url, `/api/v1/orders/${orderId}`, {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect((buyerView.json as { order: { codes?: string[] } }).order.codes).toEqual([(await code.innerText()).trim()]);
      await page.locator('.toast').first().waitFor({ state: 'detached' });
      await page.screenshot({ path: join(SCREENSHOTS, 'admin-postgres.png') });

      await go('#/ledger');
      await page.getByRole('button', { name: 'Verify the ledger' }).click();
      await page.getByText(/The ledger is intact: \d+ entries verified/).waitFor();

      await go('#/settings');
      const backend = page.locator('.settings-backend + *');
      await expect.poll(async () => backend.innerText()).toMatch(/^PostgreSQL — postgres:\/\//);
      // The password is not shown.
      const password = decodeURIComponent(new URL(seeded.url).password);
      expect(await backend.innerText()).not.toContain(password);
      // A PostgreSQL shop is backed up with pg_dump, not by copying a file.
      await page
        .getByText(/pg_dump/)
        .first()
        .waitFor();
      // The two cards that say where this shop's data lives, as one picture.
      const backup = await page.getByRole('region', { name: 'Backup and restore' }).boundingBox();
      const folder = await page.getByRole('region', { name: 'Data folder' }).boundingBox();
      const top = Math.min(backup!.y, folder!.y) - 12;
      const bottom = Math.max(backup!.y + backup!.height, folder!.y + folder!.height) + 12;
      await page.screenshot({
        path: join(SCREENSHOTS, 'settings-postgres.png'),
        fullPage: true,
        clip: {
          x: backup!.x - 12,
          y: top + (await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)),
          width: backup!.width + 24,
          height: bottom - top,
        },
      });
      expect(problems.messages).toEqual([]);
    },
  );
});
