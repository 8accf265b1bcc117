/**
 * `oncekey serve` as a real process: it binds 127.0.0.1 by default, releases holds that expired while it
 * was down before taking orders, and on SIGTERM/SIGINT finishes in-flight requests, closes the
 * database cleanly and exits 0.
 */
import { existsSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src-main/engine/engine';
import { ADMIN_TOKEN, freshKey, send, startServe, type ServeProcess } from './helpers/http';
import { seedKeys, tempDir } from './helpers/shop';

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function seededDir(keys: number): Promise<{ dir: string; productId: string }> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const engine = Engine.open({ dataDir: dir });
  const product = await engine.createProduct({ name: 'Card', price: { amount: 5000, currency: 'CNY' } });
  seedKeys(
    engine.db,
    engine.vault,
    product.id,
    Array.from({ length: keys }, (_, i) => `KEY-${i}`),
  );
  await engine.close();
  return { dir, productId: product.id };
}

async function serve(dir: string, args: string[] = []): Promise<ServeProcess> {
  const server = await startServe(dir, args);
  cleanups.push(() => server.stop('SIGKILL'));
  return server;
}

const stock = async (url: string, productId: string) =>
  (await send(url, `/api/v1/admin/products/${productId}/stock`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('serve process', () => {
  it('listens on 127.0.0.1 unless told otherwise', async () => {
    const { dir } = await seededDir(1);
    const server = await serve(dir);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await send(server.url, '/api/v1/health')).status).toBe(200);
    expect(await server.stop('SIGINT')).toBe(0);
  }, 30_000);

  it('tells gateways to notify its --public-url and answers requests forwarded under that name', async () => {
    const { dir } = await seededDir(1);
    const server = await serve(dir, ['--public-url', 'https://shop.tunnel.example/']);
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const put = await send(server.url, '/api/v1/admin/payment-channels/epay', {
      method: 'PUT',
      headers: auth,
      body: { gateway: 'https://pay.example.com', pid: '1001', key: 'merchant-key-0001' },
    });
    expect((put.json as { channel: { notifyUrl: string } }).channel.notifyUrl).toBe(
      'https://shop.tunnel.example/api/v1/payments/epay/notify',
    );
    expect((await send(server.url, '/api/v1/health', { headers: { host: 'shop.tunnel.example' } })).status).toBe(200);
    expect(await server.stop('SIGTERM')).toBe(0);

    for (const bad of ['ftp://shop.example.com', 'https://shop.example.com/pay', 'not a url']) {
      await expect(serve(dir, ['--public-url', bad])).rejects.toThrow(/--public-url/);
    }
  }, 40_000);

  it('releases holds that expired while it was down, before taking orders', async () => {
    const { dir, productId } = await seededDir(1);
    const first = await serve(dir, ['--hold-seconds', '1']);
    const created = await send(first.url, '/api/v1/orders', {
      method: 'POST',
      headers: { 'idempotency-key': freshKey() },
      body: { productId, quantity: 1, email: 'a@example.com' },
    });
    expect(created.status).toBe(201);
    const { id, accessToken } = (created.json as { order: { id: string; accessToken: string } }).order;
    expect(await stock(first.url, productId)).toEqual({ available: 0, reserved: 1, sold: 0 });
    expect(await first.stop('SIGTERM')).toBe(0);

    await sleep(1_200);
    const second = await serve(dir, ['--hold-seconds', '1']);
    expect(await stock(second.url, productId)).toEqual({ available: 1, reserved: 0, sold: 0 });
    const order = await send(second.url, `/api/v1/orders/${id}`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect((order.json as { order: { status: string } }).order.status).toBe('expired');
    expect(await second.stop('SIGTERM')).toBe(0);
  }, 40_000);

  it('finishes an in-flight request on SIGTERM, then closes the database and exits 0', async () => {
    const { dir, productId } = await seededDir(1);
    const server = await serve(dir);
    const url = new URL(server.url);
    const body = Buffer.from(JSON.stringify({ productId, quantity: 1, email: 'slow@example.com' }));
    const half = Math.floor(body.length / 2);

    // A request whose body is still arriving when the signal comes.
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/api/v1/orders',
          headers: { 'content-type': 'application/json', 'content-length': body.length, 'idempotency-key': freshKey() },
        },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, half));
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(body.subarray(half)), 300);
      }, 300);
    });

    const res = await answer;
    expect(res.status).toBe(201);
    expect(await server.exited).toBe(0);
    // Closed cleanly: the last connection checkpointed and removed the write-ahead log.
    const wal = join(dir, 'shop.db-wal');
    expect(!existsSync(wal) || statSync(wal).size === 0).toBe(true);
    const engine = Engine.open({ dataDir: dir });
    try {
      expect(engine.getProduct(productId)?.stock).toEqual({ available: 0, reserved: 1, sold: 0 });
      expect(engine.verifyLedger().ok).toBe(true);
    } finally {
      await engine.close();
    }
  }, 30_000);

  it('stops accepting new connections once it is shutting down', async () => {
    const { dir } = await seededDir(1);
    const server = await serve(dir);
    expect(await server.stop('SIGTERM')).toBe(0);
    await expect(send(server.url, '/api/v1/health', { timeoutMs: 2_000 })).rejects.toThrow();
  }, 30_000);
});
