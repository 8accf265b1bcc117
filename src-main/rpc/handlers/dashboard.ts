/**
 * Handlers for shared/rpc/dashboard.ts, on either backend. Reads only, through the shop's SqlReader (one
 * SQL text for SQLite and PostgreSQL), except the low-stock thresholds, which live in the `meta` table
 * (`alert.low_stock.default`, `alert.low_stock.<productId>`, the number as UTF-8 text in a BLOB / BYTEA):
 * written in the SQLite engine's writer or in one PostgreSQL transaction, with the same keys and encoding.
 * The ledger's verification and its cache are in dashboard-ledger.ts.
 */
import type pg from 'pg';
import {
  type DashboardAlert,
  type dashboardMethods,
  DEFAULT_LOW_STOCK_THRESHOLD,
  type SalesPoint,
} from '../../../shared/rpc/dashboard';
import { stmt } from '../../db/statements';
import type { ReadableDB, WritableDB } from '../../db/types';
import { toAdminProduct } from '../../http/views';
import { type Handlers, onBackend, RpcError } from '../dispatcher';
import { currentLedger, verifyLedgerNow } from './dashboard-ledger';

const PREFIX = 'alert.low_stock.';
const DEFAULT_KEY = `${PREFIX}default`;
const thresholdKey = (productId: string | null): string => (productId === null ? DEFAULT_KEY : `${PREFIX}${productId}`);
/** Every threshold row; no placeholders, so the same text runs on SQLite's statement and a PostgreSQL client. */
const THRESHOLDS_SQL = `SELECT key, value FROM meta WHERE substr(key, 1, ${PREFIX.length}) = '${PREFIX}'`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Thresholds {
  readonly fallback: number;
  readonly own: ReadonlyMap<string, number>;
}

const encodeThreshold = (value: number): Buffer => Buffer.from(String(value), 'utf8');

/** A stored threshold, or null when the row holds something else (ignored, as if unset). */
function decodeThreshold(value: Uint8Array | string): number | null {
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('utf8');
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function thresholdsOf(rows: readonly { key: string; value: Uint8Array | string }[]): Thresholds {
  let fallback = DEFAULT_LOW_STOCK_THRESHOLD;
  const own = new Map<string, number>();
  for (const row of rows) {
    const value = decodeThreshold(row.value);
    if (value === null || !row.key.startsWith(PREFIX)) continue;
    if (row.key === DEFAULT_KEY) fallback = value;
    else own.set(row.key.slice(PREFIX.length), value);
  }
  return { fallback, own };
}

/** The threshold `productId` (null: the default) has now. */
const effective = ({ fallback, own }: Thresholds, productId: string | null): number =>
  productId === null ? fallback : (own.get(productId) ?? fallback);

type MetaRow = { key: string; value: Buffer };

function writeThresholdSqlite(db: WritableDB, key: string, value: number | null): void {
  if (value === null) stmt(db, 'DELETE FROM meta WHERE key = ?').run(key);
  else
    stmt(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
      key,
      encodeThreshold(value),
    );
}

const readThresholdsSqlite = (db: ReadableDB): Thresholds => thresholdsOf(stmt(db, THRESHOLDS_SQL).all() as MetaRow[]);

/** The write on PostgreSQL: the same statements as on SQLite, their placeholders numbered. */
async function writeThresholdPg(client: pg.PoolClient, key: string, value: number | null): Promise<void> {
  if (value === null) await client.query('DELETE FROM meta WHERE key = $1', [key]);
  else
    await client.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [
      key,
      encodeThreshold(value),
    ]);
}

const readThresholdsPg = async (client: pg.PoolClient): Promise<Thresholds> =>
  thresholdsOf((await client.query<MetaRow>(THRESHOLDS_SQL)).rows);

/**
 * Paid orders per bucket and currency. The bucket is an integer division of non-negative BIGINTs, the
 * same on both (the parameters cast: PostgreSQL cannot type a bare `$n IS NULL`); PostgreSQL answers
 * counts and sums of BIGINT as strings, hence Number() where the rows are read.
 */
const SALES_SQL = `SELECT CAST((paid_at - CAST(? AS BIGINT)) / CAST(? AS BIGINT) AS INTEGER) AS b, currency,
       count(*) AS orders, sum(quantity) AS units, sum(amount) AS amount
  FROM orders
 WHERE paid_at >= CAST(? AS BIGINT) AND paid_at < CAST(? AS BIGINT) AND status IN ('paid', 'delivered')
   AND (CAST(? AS TEXT) IS NULL OR product_id = ?)
 GROUP BY b, currency`;

interface SalesRow {
  readonly b: number | string;
  readonly currency: string;
  readonly orders: number | string;
  readonly units: number | string;
  readonly amount: number | string;
}

/** Bucket boundaries in UTC for the caller's local days (offset as getTimezoneOffset gives it). */
function buckets(now: number, days: number, tzOffsetMinutes: number): { size: number; first: number; count: number } {
  const shift = tzOffsetMinutes * 60_000;
  if (days <= 2) {
    const size = HOUR;
    const currentHour = Math.floor((now - shift) / HOUR) * HOUR + shift;
    const count = days * 24;
    return { size, first: currentHour - (count - 1) * HOUR, count };
  }
  const today = Math.floor((now - shift) / DAY) * DAY + shift;
  return { size: DAY, first: today - (days - 1) * DAY, count: days };
}

function revenueOf(map: Map<string, number>): { amount: number; currency: string }[] {
  return [...map.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount]) => ({ amount, currency }));
}

export const dashboardHandlers: Handlers<keyof typeof dashboardMethods> = {
  'dashboard.summary': async (_input, ctx) => {
    const { fallback, own } = thresholdsOf(await ctx.shop.sql.all<MetaRow>(THRESHOLDS_SQL));
    const products = (await ctx.shop.listProducts()).map((product) => {
      const threshold = own.get(product.id);
      const lowStockThreshold = threshold ?? fallback;
      return {
        ...toAdminProduct(product),
        lowStockThreshold,
        thresholdSource: threshold === undefined ? ('default' as const) : ('product' as const),
        low: product.onSale && product.stock.available <= lowStockThreshold,
      };
    });
    const review = await ctx.shop.sql.get<{ n: number | string; oldest: number | string | null }>(
      `SELECT count(*) AS n, min(updated_at) AS oldest FROM orders WHERE status = 'needs_review'`,
    );
    const reviewCount = Number(review?.n ?? 0);
    const oldest = review?.oldest ?? null;
    const ledger = await currentLedger(ctx);
    const alerts: DashboardAlert[] = [];
    if (ledger.status === 'broken') alerts.push({ kind: 'ledger_broken', firstBadEntry: ledger.firstBadEntry });
    if (reviewCount > 0) alerts.push({ kind: 'needs_review', count: reviewCount });
    for (const p of products) {
      if (!p.onSale) continue;
      if (p.stock.available === 0) alerts.push({ kind: 'sold_out', productId: p.id, name: p.name });
      else if (p.low)
        alerts.push({
          kind: 'low_stock',
          productId: p.id,
          name: p.name,
          available: p.stock.available,
          threshold: p.lowStockThreshold,
        });
    }
    if (ledger.status === 'unverified') alerts.push({ kind: 'ledger_unverified', entries: ledger.entries });
    const totals = products.reduce(
      (sum, p) => ({
        available: sum.available + p.stock.available,
        reserved: sum.reserved + p.stock.reserved,
        sold: sum.sold + p.stock.sold,
      }),
      { available: 0, reserved: 0, sold: 0 },
    );
    return {
      products,
      totals,
      defaultLowStockThreshold: fallback,
      needsReview: { count: reviewCount, oldestAt: oldest === null ? null : new Date(Number(oldest)).toISOString() },
      ledger,
      alerts,
      generatedAt: new Date(ctx.shop.clock()).toISOString(),
    };
  },

  'dashboard.sales': async (input, ctx) => {
    const productId = input.productId ?? null;
    if (productId !== null && !(await ctx.shop.getProduct(productId))) {
      throw new RpcError('product_not_found', `no product ${productId}`);
    }
    const { size, first, count } = buckets(ctx.shop.clock(), input.days, input.tzOffsetMinutes);
    const end = first + count * size;
    const rows = await ctx.shop.sql.all<SalesRow>(SALES_SQL, [first, size, first, end, productId, productId]);
    const acc = Array.from({ length: count }, () => ({ orders: 0, units: 0, revenue: new Map<string, number>() }));
    const total = { orders: 0, units: 0, revenue: new Map<string, number>() };
    for (const row of rows) {
      const slot = acc[Number(row.b)];
      if (!slot) continue;
      for (const target of [slot, total]) {
        target.orders += Number(row.orders);
        target.units += Number(row.units);
        target.revenue.set(row.currency, (target.revenue.get(row.currency) ?? 0) + Number(row.amount));
      }
    }
    const points: SalesPoint[] = acc.map((slot, i) => ({
      start: new Date(first + i * size).toISOString(),
      orders: slot.orders,
      units: slot.units,
      revenue: revenueOf(slot.revenue),
    }));
    return {
      bucket: size === HOUR ? ('hour' as const) : ('day' as const),
      points,
      totals: { orders: total.orders, units: total.units, revenue: revenueOf(total.revenue) },
    };
  },

  'dashboard.verifyLedger': (_input, ctx) => verifyLedgerNow(ctx),

  'dashboard.setLowStockThreshold': async (input, ctx) => {
    const productId = input.productId ?? null;
    if (productId !== null && !(await ctx.shop.getProduct(productId)))
      throw new RpcError('product_not_found', `no product ${productId}`);
    const key = thresholdKey(productId);
    const threshold = await onBackend(ctx, {
      sqlite: (engine) =>
        engine.writer.run((db) => {
          writeThresholdSqlite(db, key, input.threshold);
          return effective(readThresholdsSqlite(db), productId);
        }),
      // An upsert or a delete of one row: the same outcome if a lost connection makes it run twice.
      postgres: (shop) =>
        shop.write(async (client) => {
          await writeThresholdPg(client, key, input.threshold);
          return effective(await readThresholdsPg(client), productId);
        }, true),
    });
    if (productId !== null) ctx.shop.events.emit({ type: 'stock', productId });
    return { productId, threshold };
  },
};
