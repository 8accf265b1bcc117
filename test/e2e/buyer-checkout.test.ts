/**
 * The buyer page pays through a gateway, end to end in headless Chromium: a shop on 127.0.0.1 with the
 * epay channel configured through the admin API against the fake epay gateway of test/fakes (a real
 * HTTP server written from epay's protocol). In submit mode the buyer is sent to the gateway's page,
 * pays there and comes back to the order page, which shows the code; in mapi mode the page draws the QR
 * code itself, the gateway's notification is lost, and "I have paid" finds the payment by a query.
 * Screenshots of the QR checkout in English and Chinese go to docs/screenshots/buyer-checkout*.png.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeEpayGateway } from '../fakes/epay-gateway';
import { launchBrowser, watchConsole, type ConsoleProblems } from '../helpers/browser';
import { startShop, type HttpShop } from '../helpers/http';
import { SCREENSHOTS } from '../helpers/screenshots';

const PID = '1001';
const KEY = 'fakeMerchantKey0123456789abcdef0';

let browser: Browser;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
}, 120_000);

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  await browser?.close();
});

async function setUp(
  mode: 'submit' | 'mapi',
  locale: string,
  viewport = { width: 1100, height: 900 },
): Promise<{ gateway: FakeEpayGateway; shop: HttpShop; page: Page; context: BrowserContext; problems: ConsoleProblems }> {
  const gateway = await new FakeEpayGateway({ pid: PID, key: KEY }).start();
  cleanups.push(() => gateway.close());
  const shop = await startShop({ keys: 2, price: 3000 });
  cleanups.push(() => shop.close());
  const configured = await shop.admin('/api/v1/admin/payment-channels/epay', {
    method: 'PUT',
    body: { gateway: gateway.url, pid: PID, key: KEY, mode, methods: ['alipay', 'wxpay'] },
  });
  expect(configured.status).toBe(200);
  const context = await browser.newContext({ viewport, locale, colorScheme: 'light' });
  cleanups.push(() => context.close());
  const problems = watchConsole(context);
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  return { gateway, shop, page, context, problems };
}

/** Buys one code on the shop page; returns the order id from the order page's address. */
async function reserve(page: Page, shop: HttpShop): Promise<string> {
  await page.goto(`${shop.url}/`);
  await page.locator('.product__radio:checked').waitFor({ state: 'attached' });
  await page.fill('#email', 'buyer@example.com');
  await page.click('#buy-button');
  await page.waitForURL(/#\/order\//);
  await page.locator('.pay__method').first().waitFor();
  const id = /#\/order\/([^?]+)/.exec(page.url())?.[1];
  expect(id).toBeTruthy();
  return decodeURIComponent(id!);
}

describe('the buyer page pays through the epay gateway', () => {
  it('redirects to the gateway, comes back after paying, and shows the code (zh-CN)', async () => {
    const { gateway, shop, page, problems } = await setUp('submit', 'zh-CN');
    const orderId = await reserve(page, shop);
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    expect(await page.locator('.pay__method').allInnerTexts()).toEqual(['支付宝', '微信支付']);
    expect(await page.locator('#order-pay-hint').isHidden()).toBe(true);

    await page.locator('.pay__method', { hasText: '支付宝' }).click();
    await page.waitForURL(`${gateway.url}/submit.php?**`);
    expect(await page.locator('#amount').innerText()).toBe('¥30.00');
    await page.click('#pay');

    // Back through /api/v1/payments/epay/return/<id> to the order page, which finds its token in storage.
    await page.waitForURL(`${shop.url}/#/order/${encodeURIComponent(orderId)}`);
    await page.locator('.code__value').waitFor();
    expect(await page.locator('#order-badge').innerText()).toBe('已发货');
    expect(await page.locator('.code__value').count()).toBe(1);
    expect(await page.locator('#order-pay').isHidden()).toBe(true);
    expect(shop.engine.getOrder(orderId)?.status).toBe('delivered');
    expect(gateway.notifications.map((n) => n.body)).toEqual(['success']);
    expect(problems.messages).toEqual([]);
  });

  it('draws the QR code itself, and "I have paid" finds a payment whose notification was lost (English)', async () => {
    const { gateway, shop, page, problems } = await setUp('mapi', 'en-US');
    const orderId = await reserve(page, shop);
    await page.locator('.pay__method', { hasText: 'Alipay' }).click();
    await page.locator('.pay__qr-code svg path').first().waitFor();
    expect(await page.locator('.pay__amount').innerText()).toBe('¥30.00');
    expect(await page.locator('.pay__scan').innerText()).toBe('Open Alipay and scan to pay');
    expect(await page.locator('.pay__method[aria-pressed="true"]').innerText()).toBe('Alipay');
    // No image from elsewhere: the QR code is an inline SVG drawn by the shop.
    expect(await page.locator('img[src^="http"]').count()).toBe(0);
    await page.evaluate('document.fonts.ready.then(() => true)');
    await page.screenshot({ path: join(SCREENSHOTS, 'buyer-checkout.png'), fullPage: true });

    // The buyer pays; the gateway's notification never reaches the shop (a PC behind NAT).
    await gateway.pay(orderId, { notify: false });
    expect(gateway.notifications).toEqual([]);
    await page.locator('.pay__paid').click();
    await page.locator('.code__value').waitFor();
    expect(await page.locator('#order-badge').innerText()).toBe('Delivered');
    expect(gateway.queries).toContain(orderId);
    expect(shop.engine.getOrder(orderId)?.status).toBe('delivered');
    expect(problems.messages).toEqual([]);
  });

  it('shows the QR checkout on a phone in Chinese, and keeps only the QR geometry of an SVG', async () => {
    const { shop, page, problems } = await setUp('mapi', 'zh-CN', { width: 390, height: 844 });
    await reserve(page, shop);
    await page.locator('.pay__method', { hasText: '微信支付' }).click();
    await page.locator('.pay__qr-code svg path').first().waitFor();
    expect(await page.locator('.pay__scan').innerText()).toBe('请打开微信，扫一扫付款');
    expect(await page.locator('.pay__paid').innerText()).toBe('我已付款');
    // Nothing wider than the phone.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.evaluate('document.fonts.ready.then(() => true)');
    await page.screenshot({ path: join(SCREENSHOTS, 'buyer-checkout-zh.png'), fullPage: true });

    expect(problems.messages).toEqual([]);

    // The module as the browser loads it (a string, so the test runner does not rewrite the import).
    const rebuilt = await page.evaluate(`(async () => {
      const { qrSvgFrom } = await import('/pay.js');
      const hostile =
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29" onload="alert(1)"><script>alert(2)</script>' +
        '<path fill="#fff" d="M0 0h29v29H0z" onclick="alert(3)" style="x"/><a href="javascript:alert(4)"><path d="M1 1h1"/></a>' +
        '<foreignObject><p>hi</p></foreignObject></svg>';
      return [qrSvgFrom(document, hostile)?.outerHTML ?? null, qrSvgFrom(document, '<html>not svg</html>')];
    })()`);
    expect(rebuilt).toEqual([
      '<svg viewBox="0 0 29 29" shape-rendering="crispEdges"><path d="M0 0h29v29H0z" fill="#fff"></path><path d="M1 1h1"></path></svg>',
      null,
    ]);
    // Parsing the hostile sample makes Chromium report the handler and style it would have blocked anyway.
    expect(problems.messages.every((m) => m.includes('Content Security Policy'))).toBe(true);
  });
});
