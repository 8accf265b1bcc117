/**
 * Handlers for shared/rpc/dashboard.ts. Reads only, except the low-stock thresholds, which live in the
 * `meta` table (`alert.low_stock.default`, `alert.low_stock.<productId>`). The ledger's verification
 * is cached per engine: a small shop is re-verified inline when the dashboard asks, a big one only on
 * request (`dashboard.verifyLedger`), because replaying a million keys blocks the main process for seconds.
 */
import {
  type DashboardAlert,
  type dashboardMethods,
  DEFAULT_LOW_STOCK_THRESHOLD,
  INLINE_VERIFY_MAX_MS,
  INLINE_VERIFY_MAX_ROWS,
  type LedgerState,
  type SalesPoint,
} from '../../../shared/rpc/dashboard';
import { stmt } from '../../db/statements';
import type { ReadableDB, WritableDB } from '../../db/types';
import type { Engine } from '../../engine/engine';
import type { VerifyReport } from '../../engine/ledger-verify';
import { toAdminProduct } from '../../http/views';
import { type Handlers, RpcError, sqliteOnly } from '../dispatcher';

const DEFAULT_KEY = 'alert.low_stock.default';
const productKey = (id: string): string => `alert.low_stock.${id}`;
/** A small ledger's cached result is trusted this long before the dashboard re-verifies it inline. */
const INLINE_REVERIFY_MS = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface CachedVerify {
  readonly report: VerifyReport;
  readonly at: number;
  readonly durationMs: number;
  readonly entries: number;
}
const verifyCache = new WeakMap<Engine, CachedVerify>();

function readThresholds(db: ReadableDB): { fallback: number; own: Map<string, number> } {
  const rows = stmt(db, `SELECT key, value FROM meta WHERE key LIKE 'alert.low_stock.%'`).all() as {
    key: string;
    value: Buffer;
  }[];
  let fallback = DEFAULT_LOW_STOCK_THRESHOLD;
  const own = new Map<string, number>();
  for (const row of rows) {
    const value = Number(Buffer.from(row.value).toString('utf8'));
    if (!Number.isSafeInteger(value) || value < 0) continue;
    if (row.key === DEFAULT_KEY) fallback = value;
    else own.set(row.key.slice('alert.low_stock.'.length), value);
  }
  return { fallback, own };
}

function writeThreshold(db: WritableDB, key: string, value: number | null): void {
  if (value === null) stmt(db, 'DELETE FROM meta WHERE key = ?').run(key);
  else
    stmt(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
      key,
      Buffer.from(String(value)),
    );
}

function ledgerEntries(db: ReadableDB): number {
  return stmt(db, 'SELECT coalesce(max(seq), 0) FROM ledger').pluck().get() as number;
}

function verifyNow(engine: Engine): CachedVerify {
  const started = performance.now();
  const entries = ledgerEntries(engine.db);
  const report = engine.verifyLedger();
  const cached = {
    report,
    at: engine.clock(),
    durationMs: Math.round(performance.now() - started),
    entries: report.entries || entries,
  };
  verifyCache.set(engine, cached);
  return cached;
}

/** Small enough to verify without asking: few rows, and the last run (if any) was quick. */
function autoVerifies(engine: Engine, entries: number, cached: CachedVerify | undefined): boolean {
  const keys = stmt(engine.db, 'SELECT coalesce(max(id), 0) FROM keys').pluck().get() as number;
  return entries + keys <= INLINE_VERIFY_MAX_ROWS && (cached?.durationMs ?? 0) <= INLINE_VERIFY_MAX_MS;
}

function ledgerState(cached: CachedVerify | undefined, entries: number, autoVerify: boolean): LedgerState {
  if (!cached) {
    return {
      status: 'unverified',
      entries,
      autoVerify,
      verifiedEntries: null,
      verifiedAt: null,
      durationMs: null,
      firstBadEntry: null,
      problems: [],
    };
  }
  return {
    status: cached.report.ok ? 'ok' : 'broken',
    entries,
    autoVerify,
    verifiedEntries: cached.entries,
    verifiedAt: new Date(cached.at).toISOString(),
    durationMs: cached.durationMs,
    firstBadEntry: cached.report.firstBadEntry ?? null,
    problems: cached.report.problems.slice(0, 10).map((p) => ({ seq: p.seq, reason: p.reason })),
  };
}

/** The cached state, refreshed inline when the ledger is small and the cache is stale. */
function currentLedger(engine: Engine): LedgerState {
  const entries = ledgerEntries(engine.db);
  let cached = verifyCache.get(engine);
  const stale = cached?.entries !== entries || engine.clock() - (cached?.at ?? 0) > INLINE_REVERIFY_MS;
  if (stale && autoVerifies(engine, entries, cached)) cached = verifyNow(engine);
  return ledgerState(cached, entries, autoVerifies(engine, entries, cached));
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
  'dashboard.summary': (_input, ctx) => {
    const engine = sqliteOnly(ctx, 'The dashboard');
    const { fallback, own } = readThresholds(engine.db);
    const products = engine.listProducts().map((product) => {
      const threshold = own.get(product.id);
      const lowStockThreshold = threshold ?? fallback;
      return {
        ...toAdminProduct(product),
        lowStockThreshold,
        thresholdSource: threshold === undefined ? ('default' as const) : ('product' as const),
        low: product.onSale && product.stock.available <= lowStockThreshold,
      };
    });
    const review = stmt(
      engine.db,
      `SELECT count(*) AS n, min(updated_at) AS oldest FROM orders WHERE status = 'needs_review'`,
    ).get() as {
      n: number;
      oldest: number | null;
    };
    const ledger = currentLedger(engine);
    const alerts: DashboardAlert[] = [];
    if (ledger.status === 'broken') alerts.push({ kind: 'ledger_broken', firstBadEntry: ledger.firstBadEntry });
    if (review.n > 0) alerts.push({ kind: 'needs_review', count: review.n });
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
      needsReview: { count: review.n, oldestAt: review.oldest === null ? null : new Date(review.oldest).toISOString() },
      ledger,
      alerts,
      generatedAt: new Date(engine.clock()).toISOString(),
    };
  },

  'dashboard.sales': (input, ctx) => {
    const engine = sqliteOnly(ctx, 'The dashboard');
    if (input.productId !== undefined && !engine.getProduct(input.productId)) {
      throw new RpcError('product_not_found', `no product ${input.productId}`);
    }
    const { size, first, count } = buckets(engine.clock(), input.days, input.tzOffsetMinutes);
    const end = first + count * size;
    const rows = stmt(
      engine.db,
      `SELECT CAST((paid_at - ?) / ? AS INTEGER) AS b, currency, count(*) AS orders, sum(quantity) AS units, sum(amount) AS amount
         FROM orders
        WHERE paid_at >= ? AND paid_at < ? AND status IN ('paid', 'delivered') AND (? IS NULL OR product_id = ?)
        GROUP BY b, currency`,
    ).all(first, size, first, end, input.productId ?? null, input.productId ?? null) as {
      b: number;
      currency: string;
      orders: number;
      units: number;
      amount: number;
    }[];
    const acc = Array.from({ length: count }, () => ({ orders: 0, units: 0, revenue: new Map<string, number>() }));
    const total = { orders: 0, units: 0, revenue: new Map<string, number>() };
    for (const row of rows) {
      const slot = acc[row.b];
      if (!slot) continue;
      for (const target of [slot, total]) {
        target.orders += row.orders;
        target.units += row.units;
        target.revenue.set(row.currency, (target.revenue.get(row.currency) ?? 0) + row.amount);
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

  'dashboard.verifyLedger': (_input, ctx) => {
    const engine = sqliteOnly(ctx, 'The dashboard');
    const cached = verifyNow(engine);
    const entries = ledgerEntries(engine.db);
    return ledgerState(cached, entries, autoVerifies(engine, entries, cached));
  },

  'dashboard.setLowStockThreshold': async (input, ctx) => {
    const engine = sqliteOnly(ctx, 'The dashboard');
    const productId = input.productId ?? null;
    if (productId !== null && !engine.getProduct(productId)) throw new RpcError('product_not_found', `no product ${productId}`);
    const threshold = await engine.writer.run((db) => {
      writeThreshold(db, productId === null ? DEFAULT_KEY : productKey(productId), input.threshold);
      const { fallback, own } = readThresholds(db);
      return productId === null ? fallback : (own.get(productId) ?? fallback);
    });
    if (productId !== null) engine.events.emit({ type: 'stock', productId });
    return { productId, threshold };
  },
};
