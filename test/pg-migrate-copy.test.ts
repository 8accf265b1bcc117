/**
 * `oncekey migrate-to-postgres`: a SQLite shop with history (orders held, paid, refunded, expired) moves
 * to PostgreSQL with its codes still sealed and readable by the same vault key, its stock and ledger as
 * they were, its payment channels with their sealed keys, all or nothing: a second copy into the same
 * database and a tampered source are refused.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stmt } from '../src-main/db/statements';
import { Engine } from '../src-main/engine/engine';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { runCli } from './helpers/cli';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { seedKeys, tempDir } from './helpers/shop';

const EPAY_KEY = 'fakeMerchantKey0123456789abcdef0';

let shops: PgShops;
beforeAll(async () => {
  shops = await startPgShops();
}, 120_000);
afterAll(async () => shops?.stop(), 60_000);

const cli = (args: string[]) => runCli(args, { timeoutMs: 120_000 });

/** A shop with one order of each kind; returns its folder and what the copy must reproduce. */
async function shopWithHistory() {
  const { dir, cleanup } = tempDir();
  const engine = Engine.open({ dataDir: dir });
  try {
    const product = await engine.createProduct({ name: '点卡 50', price: { amount: 5000, currency: 'CNY' } });
    seedKeys(
      engine.db,
      engine.vault,
      product.id,
      Array.from({ length: 10 }, (_, i) => `MOVE-${i}`),
    );
    const order = async (key: string) => {
      const { result } = await engine.reserve({
        productId: product.id,
        email: 'a@example.com',
        quantity: 1,
        idempotencyKey: key,
      });
      if (!result.ok) throw new Error(result.error.message);
      return result.value;
    };
    const held = await order('held');
    const paid = await order('paid');
    await engine.pay({ orderId: paid.id, amount: 5000, currency: 'CNY', eventId: 'ev-paid', source: 'webhook' });
    const refunded = await order('refunded');
    await engine.pay({ orderId: refunded.id, amount: 5000, currency: 'CNY', eventId: 'ev-ref', source: 'webhook' });
    await engine.refund({ orderId: refunded.id, keys: 'burn', reason: 'test', actor: 'support' });
    const released = await order('released');
    await engine.releaseOrder(released.id, 'support');
    // A payment channel, its key sealed by the vault.
    await engine.payments.configure('epay', { settings: { gateway: 'http://127.0.0.1:9', pid: '1001', key: EPAY_KEY } }, 'owner');
    return {
      dir,
      cleanup,
      productId: product.id,
      held,
      paid,
      codes: await engine.deliveredCodes(paid.id),
      stock: engine.getProduct(product.id)!.stock,
      entries: engine.verifyLedger().entries,
    };
  } finally {
    await engine.close();
  }
}

describe('oncekey migrate-to-postgres', () => {
  it('copies a shop with its history; the copy sells on, with the same vault key', { timeout: 180_000 }, async () => {
    const source = await shopWithHistory();
    try {
      const url = await shops.freshUrl();
      const copied = await cli(['migrate-to-postgres', '--data', source.dir, '--database', url, '--json']);
      expect(copied.stderr).toBe('');
      expect(copied.code).toBe(0);
      const report = JSON.parse(copied.stdout.trim().split('\n').pop()!) as {
        rows: Record<string, number>;
        ledgerEntries: number;
      };
      expect(report.rows).toMatchObject({ products: 1, orders: 4, keys: 10, payments: 2, deliveries: 2 });
      expect(report.ledgerEntries).toBe(source.entries);

      const shop = await PgShop.open({ url, secretStore: new KeyFileStore(join(source.dir, 'vault.key')) });
      try {
        expect((await shop.getProduct(source.productId))?.stock).toEqual(source.stock);
        expect(await shop.deliveredCodes(source.paid.id)).toEqual(source.codes);
        expect(await shop.getOrderWithToken(source.held.id, source.held.accessToken)).toMatchObject({ status: 'reserved' });
        // The held order's retry still replays, now from PostgreSQL.
        const replay = await shop.reserve({
          productId: source.productId,
          email: 'a@example.com',
          quantity: 1,
          idempotencyKey: 'held',
        });
        expect(replay).toMatchObject({
          replayed: true,
          result: { ok: true, value: { id: source.held.id, accessToken: source.held.accessToken } },
        });
        // And it sells on: new ids after the copied ones, the chain continues.
        const next = await shop.reserve({
          productId: source.productId,
          email: 'b@example.com',
          quantity: 1,
          idempotencyKey: 'next',
        });
        expect(next.result.ok).toBe(true);
        const verified = await shop.verifyLedger();
        expect(verified).toMatchObject({ ok: true, entries: source.entries + 1 });
        // The payment channel came along, its sealed key opened by the same vault: the held order checks out.
        expect((await shop.payments.list()).map((c) => [c.name, c.fields])).toEqual([
          ['epay', ['gateway', 'pid', 'signType', 'key', 'mode', 'methods']],
        ]);
        expect(await shop.payments.selfCheck('epay')).toMatchObject({ ok: true });
        const held = (await shop.getOrder(source.held.id))!;
        const checkout = await shop.payments.checkout(held, 'epay', undefined, '127.0.0.1');
        expect(checkout.redirectUrl).toMatch(/^http:\/\/127\.0\.0\.1:9\/submit\.php\?/);
      } finally {
        await shop.close();
      }

      const again = await cli(['migrate-to-postgres', '--data', source.dir, '--database', url]);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/already holds a shop/);
    } finally {
      source.cleanup();
    }
  });

  it('refuses a source whose ledger does not verify, and copies nothing', { timeout: 180_000 }, async () => {
    const source = await shopWithHistory();
    try {
      const engine = Engine.open({ dataDir: source.dir });
      stmt(engine.db, `UPDATE ledger SET detail = '{"tampered":true}' WHERE seq = 2`).run();
      await engine.close();
      const url = await shops.freshUrl();
      const refused = await cli(['migrate-to-postgres', '--data', source.dir, '--database', url]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/does not verify/);
      const schema = new URL(url).searchParams.get('options')!.replace('-c search_path=', '');
      const tables = await shops.admin<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'products'`,
        [schema],
      );
      if (tables.rows[0]?.n) {
        const rows = await shops.admin<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.products`);
        expect(rows.rows[0]?.n).toBe(0);
      }
    } finally {
      source.cleanup();
    }
  });

  it('says what it needs when --database is missing', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const result = await cli(['migrate-to-postgres', '--data', dir]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--database/);
    } finally {
      cleanup();
    }
  });
});
