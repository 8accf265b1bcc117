/**
 * End to end, as a shop owner would: browser mode (`npm start` without Electron) in headless Debian
 * Chromium. A product is created and codes imported on the Products page, the dashboard shows the stock, a buyer orders over HTTP, the order
 * appears in Orders without a reload, the owner marks it paid (a test payment), reveals the code and
 * sees the reveal in the order's audit trail, verifies the ledger, and switches to Chinese: no English
 * word of the interface is left. Screenshots of Orders, Ledger and Settings go to docs/screenshots/.
 */
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserMode, type BrowserModeShop } from '../helpers/browser-mode';
import { send } from '../helpers/http';
import { SCREENSHOTS } from '../helpers/screenshots';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CODES = ['STEAM-AAAA-1111', 'STEAM-BBBB-2222', 'STEAM-CCCC-3333'];
const BUYER = 'buyer@example.com';
const OTHER_BUYER = 'li.wei@example.cn';

let shop: BrowserModeShop;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  shop = await startBrowserMode();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
  const context = await browser.newContext({
    viewport: { width: 1360, height: 860 },
    locale: 'en-US',
    timezoneId: 'Asia/Shanghai',
  });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${message.text()} @ ${JSON.stringify(message.location())}`);
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await shop?.stop();
});

async function go(hash: string): Promise<void> {
  // Runs in the page; the node tsconfig has no DOM types, hence the narrow cast.
  await page.evaluate((h) => {
    (globalThis as unknown as { location: { hash: string } }).location.hash = h;
  }, hash);
}

/** Every run of Latin letters left on the page once the shop's own data is taken out. */
async function englishWords(data: readonly string[]): Promise<string[]> {
  let text = await page.locator('body').innerText();
  for (const item of [...data].sort((a, b) => b.length - a.length)) text = text.split(item).join(' ');
  // Ledger hashes (hex) and file paths are data too.
  text = text.replace(/\b[0-9a-f]{16}\b/g, ' ').replace(/(?:\/[\w.-]+)+/g, ' ');
  // Brand, currency codes and technical names that stay Latin in a Chinese UI.
  const allowed = new Set([
    'OnceKey',
    'CNY',
    'API',
    'Webhook',
    'English',
    'epay',
    'Stripe',
    'Checkout',
    'RSA',
    'MD',
    'Native',
    'APIv',
    'pid',
    'mchid',
    'appid',
    'https',
    'SQLite',
    'PostgreSQL',
  ]);
  return (text.match(/[A-Za-z]{2,}/g) ?? []).filter((word: string) => !allowed.has(word));
}

describe('the admin app in browser mode', () => {
  it('imports codes, sells one over HTTP, shows it live, marks it paid, reveals the code with an audit entry, and speaks Chinese', async () => {
    // Sign in with the one-time link; create the product and import the codes on the Products page.
    await page.goto(shop.adminUrl);
    await go('#/products');
    await page.getByRole('button', { name: 'New product' }).click();
    const productDialog = page.getByRole('dialog', { name: 'New product' });
    await productDialog.getByRole('textbox', { name: /Name/ }).fill('Steam 50');
    await productDialog.getByRole('textbox', { name: /Price/ }).fill('50.00');
    await productDialog.getByRole('button', { name: 'Create' }).click();
    await productDialog.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Import codes into Steam 50' }).click();
    const importDialog = page.getByRole('dialog', { name: 'Import codes into Steam 50' });
    await importDialog.getByRole('textbox', { name: 'Codes, one per line' }).fill(CODES.join('\n'));
    await importDialog.getByRole('button', { name: 'Preview' }).click();
    await importDialog.getByRole('button', { name: 'Import 3 codes' }).click();
    await importDialog.waitFor({ state: 'detached' });
    const listed = await send(shop.baseUrl, '/api/v1/products');
    const product = (listed.json as { products: { id: string; name: string; stock: { available: number } }[] }).products.find(
      (p) => p.name === 'Steam 50',
    );
    expect(product?.stock.available).toBe(3);
    const productId = product!.id;

    // The dashboard shows the stock.
    await go('#/dashboard');
    await expect.poll(async () => page.getByTestId('total-available').innerText()).toContain('3');

    // Orders: empty, then a purchase over HTTP appears without a reload.
    await go('#/orders');
    await page.getByText('No orders yet').waitFor();
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const bought = await send(shop.baseUrl, '/api/v1/orders', {
      method: 'POST',
      headers: { 'idempotency-key': `e2e-${Date.now()}` },
      body: { productId, quantity: 1, email: BUYER },
    });
    expect(bought.status).toBe(201);
    const { id: orderId, accessToken } = (bought.json as { order: { id: string; accessToken: string } }).order;
    const row = page.getByRole('row').filter({ hasText: orderId });
    await row.waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(await row.innerText()).toContain('Awaiting payment');
    // A second buyer, whose order stays unpaid.
    const second = await send(shop.baseUrl, '/api/v1/orders', {
      method: 'POST',
      headers: { 'idempotency-key': `e2e-2-${Date.now()}` },
      body: { productId, quantity: 1, email: OTHER_BUYER },
    });
    expect(second.status).toBe(201);
    const secondId = (second.json as { order: { id: string } }).order.id;
    await page.getByRole('row').filter({ hasText: OTHER_BUYER }).waitFor();

    // Mark paid, after the confirmation.
    await row.click();
    const panel = page.getByRole('complementary', { name: `Order ${orderId}` });
    await panel.getByText('Codes reserved for the order').waitFor();
    await panel.getByRole('button', { name: 'Mark paid (test payment)' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm a payment by hand?' });
    await dialog.getByRole('button', { name: 'Mark paid (test payment)' }).click();
    await dialog.waitFor({ state: 'detached' });
    await panel.getByText('Paid and delivered').waitFor();
    await panel.getByText('Test payment confirmed by hand').waitFor();
    await expect.poll(async () => row.innerText()).toContain('Delivered');

    // Reveal the delivered code: it is the buyer's code, and the reveal is in the audit trail.
    await panel.getByRole('button', { name: 'Reveal' }).click();
    const code = panel.locator('code.order-keys__code');
    await code.waitFor();
    const revealed = (await code.innerText()).trim();
    expect(CODES).toContain(revealed);
    const buyerView = await send(shop.baseUrl, `/api/v1/orders/${orderId}`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect((buyerView.json as { order: { codes?: string[] } }).order.codes).toEqual([revealed]);
    const revealItem = panel.locator('.timeline__item').filter({ hasText: 'Code revealed' });
    await revealItem.waitFor();
    expect(await revealItem.innerText()).toContain('by the browser admin');
    await page.locator('.toast').first().waitFor({ state: 'detached' });
    await page.screenshot({ path: join(SCREENSHOTS, 'orders.png') });

    // Ledger: entries and a verification that passes.
    await go('#/ledger');
    await page.getByRole('table', { name: 'Ledger entries, newest first' }).waitFor();
    await page.getByRole('button', { name: 'Verify the ledger' }).click();
    await page.getByText(/The ledger is intact: 4 entries verified/).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'ledger.png') });

    await go('#/settings');
    await page.getByRole('heading', { name: 'Shop endpoint' }).waitFor();

    // The owner enters the epay merchant id and key in Settings → Payments, and tests them.
    const epay = page.getByRole('listitem', { name: 'epay (易支付)' });
    await epay.getByRole('button', { name: 'Configure…' }).click();
    await epay.getByRole('textbox', { name: 'Gateway address' }).fill('https://pay.example.com');
    await epay.getByRole('textbox', { name: 'Merchant id (pid)' }).fill('1001');
    await epay.getByLabel('Merchant key (MD5)').fill('e2eMerchantKey0123456789');
    await epay.getByRole('button', { name: 'Save' }).click();
    await epay.getByText('On', { exact: true }).waitFor();
    await epay.getByRole('button', { name: 'Test' }).click();
    await epay.getByRole('list', { name: 'Self-check' }).waitFor();
    expect(await epay.getByText(`${shop.baseUrl}/api/v1/payments/epay/notify`).count()).toBe(1);
    const channels = await send(shop.baseUrl, '/api/v1/payment-channels');
    expect(channels.json).toEqual({ channels: [{ name: 'epay', methods: ['alipay', 'wxpay'] }] });
    const payments = page.getByRole('region', { name: 'Payments' });
    // Tall enough that the card needs no scrolling (the page header is sticky).
    await page.setViewportSize({ width: 1360, height: 1800 });
    await payments.screenshot({ path: join(SCREENSHOTS, 'settings-payments.png') });
    await page.setViewportSize({ width: 1360, height: 860 });
    // The toast is English; the Chinese checks below (and the screenshot) start once it is gone.
    await page.getByText('Channel saved.').waitFor({ state: 'detached' });
    // The section's screenshot scrolled the page: from the top, the sticky header and sidebar sit where they belong.
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: join(SCREENSHOTS, 'settings.png'), fullPage: true });

    // Chinese: the order page, with the order open, has no English left.
    await page.getByTestId('language-select').selectOption('zh-CN');
    await go(`#/orders/${orderId}`);
    const zhPanel = page.getByRole('complementary', { name: `订单 ${orderId}` });
    await zhPanel.getByText('已支付并发货').waitFor();
    await zhPanel.getByText('查看了卡密').waitFor();
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    const left = await englishWords([orderId, secondId, BUYER, OTHER_BUYER, 'Steam 50', revealed, productId]);
    expect(left).toEqual([]);
    await page.screenshot({ path: join(SCREENSHOTS, 'orders-zh.png') });
    await go('#/ledger');
    await page.getByRole('table', { name: '账本记录（最新在前）' }).waitFor();
    await page.getByRole('button', { name: '校验账本' }).click();
    await page.getByText(/账本完好/).waitFor();
    expect(await englishWords([orderId, secondId, productId, 'Steam 50'])).toEqual([]);
    await go('#/settings');
    await page.getByRole('heading', { name: '店铺接口' }).waitFor();
    const zhPayments = page.getByRole('region', { name: '收款渠道' });
    await zhPayments.getByRole('listitem', { name: '易支付 (epay)' }).getByText('已开启').waitFor();
    // Protocol and brand names stay as the providers write them.
    expect(await englishWords(['Steam 50', shop.baseUrl, 'https://pay.example.com'])).toEqual([]);
    await page.setViewportSize({ width: 1360, height: 1800 });
    await zhPayments.screenshot({ path: join(SCREENSHOTS, 'settings-payments-zh.png') });
    await page.setViewportSize({ width: 1360, height: 860 });

    // Anything logged as an error is a failure.
    expect(consoleErrors).toEqual([]);
  }, 240_000);
});
