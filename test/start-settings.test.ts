/**
 * What the Settings page saves for "the next start" is what the next start uses, on both backends:
 * the endpoint's host, port and purchase limit come from the command line, else the saved settings,
 * else the defaults (app/start-shop.ts serveShop). A taken port is an error for `serve`, and a free
 * port with one line saying so for `npm start` (portFallback).
 */
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startPgShop } from '../src-main/app/start-pg-shop';
import { startShop } from '../src-main/app/start-shop';
import { Dispatcher, sqliteContext, type RpcContext } from '../src-main/rpc/dispatcher';
import { HANDLERS } from '../src-main/rpc/handlers';
import { BACKEND_NAMES, type BackendName } from './helpers/backend-shop';
import { freshKey, send } from './helpers/http';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { freePort } from './helpers/server-process';
import { tempDir } from './helpers/shop';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
let postgres: Promise<PgShops> | undefined;
afterAll(async () => (await postgres)?.stop(), 60_000);

/** A shop (one product, two codes) whose Settings page saved `settings`; returns how to start it again as `serve` would. */
async function savedShop(backend: BackendName, settings: Record<string, unknown>) {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const database = backend === 'postgres' ? await (postgres ??= startPgShops()).then((p) => p.freshUrl()) : null;
  const notices: string[] = [];
  const common = { dataDir: dir, rateLimitPerMinute: 0, notice: (line: string) => notices.push(line) };
  const start = (extra: { port?: number; portFallback?: boolean } = {}) =>
    database === null ? startShop({ ...common, ...extra }) : startPgShop({ ...common, ...extra, database });
  const first = await start({ port: 0 });
  const ctx: RpcContext =
    'engine' in first
      ? sqliteContext(first.engine, 'desktop:test')
      : { shop: first.shop, engine: null, dataDir: dir, actor: 'desktop:test' };
  const product = await ctx.shop.createProduct({ name: 'Steam 50', price: { amount: 5000, currency: 'CNY' } });
  await ctx.shop.addCodes(product.id, ['CODE-1', 'CODE-2']);
  const reply = await new Dispatcher(HANDLERS).dispatch('settings.set', settings, ctx);
  expect(reply.ok).toBe(true);
  await first.close();
  return {
    notices,
    productId: product.id,
    start: async (extra: { port?: number; portFallback?: boolean } = {}) => {
      const started = await start(extra);
      cleanups.push(() => started.close());
      return started;
    },
  };
}

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => resolve(server));
  });
}

describe.each(BACKEND_NAMES)('the next start on %s', (backend) => {
  it(
    'listens on the saved port and holds buyers to the saved purchase limit; a given port wins',
    { timeout: 60_000 },
    async () => {
      const port = await freePort();
      const shop = await savedShop(backend, { port, purchaseLimit: 1 });
      const started = await shop.start();
      expect(started.url).toBe(`http://127.0.0.1:${port}`);
      const order = () =>
        send(started.url, '/api/v1/orders', {
          method: 'POST',
          headers: { 'idempotency-key': freshKey() },
          body: { productId: shop.productId, quantity: 1, email: 'one@example.com' },
        });
      expect((await order()).status).toBe(201);
      expect(((await order()).json as { code: string }).code).toBe('purchase_limit');
      await started.close();
      const given = await shop.start({ port: 0 });
      expect(given.url).not.toBe(`http://127.0.0.1:${port}`);
    },
  );

  it('refuses a taken saved port, or (npm start) takes a free one and says so', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const shop = await savedShop(backend, { port });
    const blocker = await occupy(port);
    cleanups.push(() => new Promise((r) => blocker.close(r)));
    await expect(shop.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const started = await shop.start({ portFallback: true });
    expect(started.url).not.toBe(`http://127.0.0.1:${port}`);
    expect(shop.notices).toContain(`port ${port} is in use; listening on a free port instead`);
  });
});
