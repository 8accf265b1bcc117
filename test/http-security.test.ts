/**
 * Secure by default: the Host and Origin allowlists (DNS rebinding), no wildcard CORS, security headers
 * on every response including the buyer page, and logs that never carry a code, a token or a secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, send, startShop, WEBHOOK_SECRET, type HttpResponse, type HttpShop } from './helpers/http';

let shop: HttpShop;
let port: string;
let publicDir: string;

beforeAll(async () => {
  publicDir = mkdtempSync(join(tmpdir(), 'oncekey-public-'));
  writeFileSync(join(publicDir, 'index.html'), '<!doctype html><title>shop</title><p>buy</p>');
  writeFileSync(join(publicDir, 'app.js'), 'console.log(1)');
  shop = await startShop({ keys: 5, http: { shopHosts: ['shop.example.com', 'pay.example.com:8443'], publicDir } });
  port = new URL(shop.url).port;
});
afterAll(async () => {
  await shop.close();
  rmSync(publicDir, { recursive: true, force: true });
});

const withHost = (host: string) => shop.send('/api/v1/products', { headers: { host } });
const codeOf = (res: HttpResponse): string => (res.json as { code: string }).code;

describe('Host allowlist', () => {
  it('answers the loopback names with the bound port', async () => {
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`]) {
      expect((await withHost(host)).status, host).toBe(200);
    }
  });

  it('answers configured shop hosts: a bare name on any port, name:port on that port only', async () => {
    expect((await withHost('shop.example.com')).status).toBe(200);
    expect((await withHost('shop.example.com:443')).status).toBe(200);
    expect((await withHost('pay.example.com:8443')).status).toBe(200);
    expect((await withHost('pay.example.com')).status).toBe(403);
  });

  it("answers the host of the shop's public address (a tunnel or proxy forwards that name), on any port", async () => {
    expect((await withHost('abc123.tunnel.example')).status).toBe(403);
    shop.engine.payments.publicUrl = 'https://abc123.tunnel.example';
    try {
      expect((await withHost('abc123.tunnel.example')).status).toBe(200);
      expect((await withHost('ABC123.tunnel.example:443')).status).toBe(200);
      expect((await withHost('tunnel.example')).status).toBe(403);
    } finally {
      shop.engine.payments.publicUrl = null;
    }
    expect((await withHost('abc123.tunnel.example')).status).toBe(403);
  });

  it('refuses any other Host with 403 host_not_allowed, on every route', async () => {
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `localhost:${Number(port) + 1}`,
      'localhost',
      `127.0.0.2:${port}`,
      `shop.example.com.evil.example`,
    ]) {
      const res = await withHost(host);
      expect(res.status, host).toBe(403);
      expect(codeOf(res)).toBe('host_not_allowed');
    }
    const order = await shop.send('/api/v1/orders', {
      method: 'POST',
      headers: { host: 'rebound.example', 'idempotency-key': 'k' },
      body: {},
    });
    expect(order.status).toBe(403);
    const page = await shop.send('/', { headers: { host: 'rebound.example' } });
    expect(page.status).toBe(403);
    expect(shop.engine.getProduct(shop.productId)?.stock.reserved).toBe(0);
  });
});

describe('Origin check and CORS', () => {
  it('accepts requests from its own origins and refuses others with 403 origin_not_allowed', async () => {
    const own = await shop.send('/api/v1/products', { headers: { origin: `http://localhost:${port}` } });
    expect(own.status).toBe(200);
    expect((await shop.send('/api/v1/products', { headers: { origin: 'https://shop.example.com' } })).status).toBe(200);
    for (const origin of ['https://evil.example', 'null', `http://localhost:${Number(port) + 1}`, 'file://', 'not a url']) {
      const res = await shop.send('/api/v1/products', { headers: { origin } });
      expect(res.status, origin).toBe(403);
      expect(codeOf(res)).toBe('origin_not_allowed');
    }
  });

  it('never sends a wildcard (or any) Access-Control-Allow-Origin', async () => {
    for (const origin of [`http://localhost:${port}`, 'https://evil.example']) {
      const res = await shop.send('/api/v1/products', { headers: { origin } });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    }
    const preflight = await shop.send('/api/v1/orders', {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('security headers', () => {
  it('sends nosniff, no-referrer and frame-ancestors none on API answers and errors, and never caches them', async () => {
    for (const res of [
      await withHost(`127.0.0.1:${port}`),
      await shop.send('/api/v1/orders/nope'),
      await withHost('evil.example'),
    ]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(res.headers['cache-control']).toBe('no-store');
    }
  });

  it('serves the buyer page at / with a CSP that forbids framing', async () => {
    const page = await shop.send('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('buy');
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    const script = await shop.send('/app.js');
    expect(script.status).toBe(200);
    const missing = await shop.send('/nothing.html');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toMatch(/^application\/problem\+json/);
  });

  it("keeps the page's policy on a 304, so a revalidated page still runs its own script", async () => {
    const page = await shop.send('/');
    const etag = page.headers.etag;
    expect(typeof etag).toBe('string');
    const cached = await shop.send('/', { headers: { 'if-none-match': String(etag) } });
    expect(cached.status).toBe(304);
    expect(cached.headers['content-security-policy']).toContain("default-src 'self'");
  });
});

describe('logging', () => {
  it('never logs a code, an access token, the admin token or a signature', async () => {
    const logged = await startShop({ keys: 2, http: { log: true } });
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
      return true;
    });
    let secrets: string[] = [];
    try {
      const created = (await logged.order()).json as { order: { id: string; accessToken: string } };
      const { id, accessToken } = created.order;
      await logged.webhook({ id: 'evt_log', orderId: id, amount: 5000, currency: 'CNY', status: 'succeeded' });
      const view = await send(logged.url, `/api/v1/orders/${id}`, { headers: { authorization: `Bearer ${accessToken}` } });
      const codes = (view.json as { order: { codes: string[] } }).order.codes;
      await logged.admin('/api/v1/admin/ledger/verify');
      await send(logged.url, '/api/v1/admin/ledger/verify', { headers: { authorization: 'Bearer wrong-guess-token' } });
      secrets = [accessToken, ADMIN_TOKEN, WEBHOOK_SECRET, 'wrong-guess-token', ...codes];
    } finally {
      spy.mockRestore();
      await logged.close();
    }
    const text = lines.join('');
    expect(text).toContain('"url"');
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/v1=[0-9a-f]{64}/);
  });
});
