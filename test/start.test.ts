/**
 * `npm start` where Electron cannot run (this machine has no Electron binary): one line says why, the
 * app starts in browser mode with a one-time login link, the link signs in once and only once, the
 * session reaches the admin API, and SIGTERM ends it with exit code 0. Closing a started shop (either
 * backend's) stops its server first, then its database, once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RPC_PATH } from '../shared/rpc';
import { closeOnce } from '../src-main/app/start-shop';
import { startBrowserMode, type BrowserModeShop } from './helpers/browser-mode';

let shop: BrowserModeShop | null = null;
afterEach(async () => {
  await shop?.stop();
  shop = null;
});

function cookieFrom(response: Response): string {
  const header = response.headers.get('set-cookie') ?? '';
  return header.split(';')[0] ?? '';
}

describe('npm start without Electron', () => {
  it('says why in one line, prints one admin link, and the link logs in exactly once', async () => {
    const started = await startBrowserMode();
    shop = started;
    // stderr is its own pipe: its line may arrive after the admin link on stdout.
    await expect
      .poll(() => started.stderr(), { timeout: 10_000 })
      .toContain('Electron is not available here (its binary is not installed); starting in browser mode');
    const lines = shop.stdout().trim().split('\n');
    expect(lines).toEqual([expect.stringMatching(/^admin: http:\/\/127\.0\.0\.1:\d+\/admin\/\?token=[\w-]{43}$/)]);

    const first = await fetch(shop.adminUrl, { redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/admin/'); // the token leaves the address bar
    const setCookie = first.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = cookieFrom(first);

    const page = await fetch(`${shop.baseUrl}/admin/`, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');

    const call = await fetch(`${shop.baseUrl}${RPC_PATH}/products.list`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(call.status).toBe(200);
    expect(await call.json()).toEqual({ ok: true, value: { products: [] } });

    // The link opened again in the browser that used it: still signed in, no new session.
    const reopened = await fetch(shop.adminUrl, { redirect: 'manual', headers: { cookie } });
    expect(reopened.status).toBe(303);
    expect(reopened.headers.get('set-cookie')).toBeNull();

    // The same link a second time, from another browser (no cookie): refused, no session.
    const again = await fetch(shop.adminUrl, { redirect: 'manual' });
    expect(again.status).toBe(401);
    expect(again.headers.get('set-cookie')).toBeNull();
    const anonymous = await fetch(`${shop.baseUrl}${RPC_PATH}/products.list`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('unauthorized');

    const code = await shop.stop();
    shop = null;
    expect(code).toBe(0);
  });

  it('keeps the public buyer page at / and the live event stream behind the session', async () => {
    shop = await startBrowserMode();
    const buyer = await fetch(`${shop.baseUrl}/`);
    expect(buyer.status).toBe(200);
    expect(await buyer.text()).toContain('OnceKey');
    const events = await fetch(`${shop.baseUrl}/api/v1/admin/events`);
    expect(events.status).toBe(401);
  });
});

describe('closing a started shop', () => {
  it('stops the server, then the database, once however often it is called', async () => {
    const calls: string[] = [];
    const close = closeOnce({ close: async () => void calls.push('server') }, { close: async () => void calls.push('database') });
    const first = close();
    expect(close()).toBe(first);
    await first;
    await close();
    expect(calls).toEqual(['server', 'database']);
  });

  it('still closes the database when the server fails to close, and reports the failure', async () => {
    const calls: string[] = [];
    const close = closeOnce(
      {
        close: async () => {
          throw new Error('server would not stop');
        },
      },
      { close: async () => void calls.push('database') },
    );
    await expect(close()).rejects.toThrow('server would not stop');
    expect(calls).toEqual(['database']);
  });
});
