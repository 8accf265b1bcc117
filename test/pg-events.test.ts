/**
 * Live events between servers of one PostgreSQL shop (pg/events-relay.ts): what one server emits
 * reaches the others' listeners through NOTIFY, coalesced, never echoed back to the server that emitted
 * it, and a listener whose connection PostgreSQL cut reconnects and hears later events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEvent } from '../shared/rpc';
import { EngineEvents } from '../src-main/engine/events';
import { join } from 'node:path';
import { openPool } from '../src-main/pg/connect';
import { PgEventRelay } from '../src-main/pg/events-relay';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { until } from './helpers/payments';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

let pgShops: PgShops;
beforeAll(async () => {
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => pgShops?.stop(), 60_000);

/** A server's events and its relay, on its own pool. */
async function server(url: string) {
  const pool = openPool(url, 2);
  const events = new EngineEvents();
  const heard: AppEvent[] = [];
  events.subscribe((event) => heard.push(event));
  const relay = new PgEventRelay(pool, url, events);
  await relay.listen();
  return {
    events,
    heard,
    close: async () => {
      await relay.close();
      await pool.end();
    },
  };
}

describe('events between servers of one PostgreSQL shop', () => {
  it('reaches the other servers, coalesced, and never comes back to the one that emitted it', { timeout: 60_000 }, async () => {
    const url = await pgShops.freshUrl();
    const [a, b, c] = await Promise.all([server(url), server(url), server(url)]);
    try {
      a.events.emit({ type: 'order', orderId: 'ord_1', productId: 'prd_1', status: 'reserved' });
      a.events.emit({ type: 'order', orderId: 'ord_1', productId: 'prd_1', status: 'delivered' });
      for (let i = 0; i < 50; i++) a.events.emit({ type: 'stock', productId: 'prd_1' });
      b.events.emit({ type: 'stock', productId: 'prd_2' });
      await until(() => b.heard.length >= 3 && c.heard.length >= 3, 10_000);
      // The latest event per order and per product (a's two and b's one, in whichever order they came).
      expect(c.heard).toHaveLength(3);
      expect(c.heard).toEqual(
        expect.arrayContaining([
          { type: 'order', orderId: 'ord_1', productId: 'prd_1', status: 'delivered' },
          { type: 'stock', productId: 'prd_1' },
          { type: 'stock', productId: 'prd_2' },
        ]),
      );
      expect(b.heard.filter((e) => e.type === 'order')).toEqual([
        { type: 'order', orderId: 'ord_1', productId: 'prd_1', status: 'delivered' },
      ]);
      await new Promise((r) => setTimeout(r, 500));
      // A heard its own 52 events once each (locally), and b's one: nothing echoed back.
      expect(a.heard).toHaveLength(53);
      expect(a.heard.at(-1)).toEqual({ type: 'stock', productId: 'prd_2' });
    } finally {
      await Promise.all([a, b, c].map((s) => s.close()));
    }
  });

  it('reconnects a listener whose connection was terminated, and hears what comes after', { timeout: 60_000 }, async () => {
    const url = await pgShops.freshUrl();
    const [a, b] = await Promise.all([server(url), server(url)]);
    try {
      a.events.emit({ type: 'stock', productId: 'before' });
      await until(() => b.heard.length === 1, 10_000);
      const cut = await pgShops.admin<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE query = 'LISTEN oncekey_events'`,
      );
      expect(cut.rows[0]!.n).toBe(2);
      // Until b listens again, what a emits is lost (the pages reload on the next one); then it is heard.
      await until(async () => {
        a.events.emit({ type: 'stock', productId: 'after' });
        await new Promise((r) => setTimeout(r, 300));
        return b.heard.some((e) => e.type === 'stock' && e.productId === 'after');
      }, 20_000);
    } finally {
      await Promise.all([a, b].map((s) => s.close()));
    }
  });

  it(
    'carries a sale on one PgShop to another PgShop of the same shop that listens to its peers',
    { timeout: 60_000 },
    async () => {
      const url = await pgShops.freshUrl();
      const { dir, cleanup } = tempDir();
      const open = () => PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
      const a = await open();
      const b = await open();
      try {
        await b.listenToPeers();
        const heard: AppEvent[] = [];
        b.events.subscribe((event) => heard.push(event));
        const product = await a.createProduct({ name: 'Steam 50', price: { amount: 5000, currency: 'CNY' } });
        await a.addCodes(product.id, ['CODE-1']);
        const { result } = await a.reserve({ productId: product.id, quantity: 1, email: 'buyer@example.com' });
        if (!result.ok) throw new Error(result.error.message);
        await until(() => heard.some((e) => e.type === 'order' && e.orderId === result.value.id), 10_000);
        expect(heard).toContainEqual({ type: 'stock', productId: product.id });
      } finally {
        await a.close();
        await b.close();
        cleanup();
      }
    },
  );
});
