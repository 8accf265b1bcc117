/**
 * The dashboard's methods: stock per product with low-stock alerts, orders waiting for review, the
 * ledger's last verification (cached: verifying a big ledger replays every entry and takes seconds), and
 * sales per day or hour counted from the orders table.
 */
import { z } from 'zod';
import { AdminProduct, Money } from '../api';
import { method } from './method';

/** The low-stock threshold used for a product that has none of its own, until the owner sets another. */
export const DEFAULT_LOW_STOCK_THRESHOLD = 10;
/**
 * Verification replays every ledger entry and checks every key row. A shop up to this many of both is
 * re-verified by the dashboard itself when its cached result is stale; a bigger one only on request.
 */
export const INLINE_VERIFY_MAX_ROWS = 200_000;
/** ... and only while the last verification took at most this long (the main process is blocked meanwhile). */
export const INLINE_VERIFY_MAX_MS = 250;

const Threshold = z.int().min(0).max(1_000_000_000);

/** A product on the dashboard: the admin view plus its effective low-stock threshold. */
export const DashboardProduct = AdminProduct.extend({
  lowStockThreshold: Threshold,
  /** Whether the threshold is the product's own or the shop's default. */
  thresholdSource: z.enum(['product', 'default']),
  /** On sale and `available` at or below its threshold. */
  low: z.boolean(),
});
export type DashboardProduct = z.infer<typeof DashboardProduct>;

/** The ledger's state as last verified. `unverified` means nobody verified it since the app started. */
export const LedgerState = z.object({
  status: z.enum(['ok', 'broken', 'unverified']),
  /** Entries in the ledger now. */
  entries: z.int().min(0),
  /** Whether the dashboard re-verifies by itself; false for a big shop, where only `dashboard.verifyLedger` does. */
  autoVerify: z.boolean(),
  /** Entries the last verification covered; fewer than `entries` means the result is older than the newest sales. */
  verifiedEntries: z.int().min(0).nullable(),
  verifiedAt: z.iso.datetime().nullable(),
  /** How long the last verification took, to warn before the next one. */
  durationMs: z.number().min(0).nullable(),
  firstBadEntry: z.int().nullable(),
  problems: z.array(z.object({ seq: z.int().nullable(), reason: z.string() })),
});
export type LedgerState = z.infer<typeof LedgerState>;

/** Something the owner should look at; the renderer words it. */
export const DashboardAlert = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sold_out'), productId: z.string(), name: z.string() }),
  z.object({ kind: z.literal('low_stock'), productId: z.string(), name: z.string(), available: z.int(), threshold: z.int() }),
  z.object({ kind: z.literal('needs_review'), count: z.int().min(1) }),
  z.object({ kind: z.literal('ledger_broken'), firstBadEntry: z.int().nullable() }),
  z.object({ kind: z.literal('ledger_unverified'), entries: z.int().min(0) }),
]);
export type DashboardAlert = z.infer<typeof DashboardAlert>;

export const DashboardSummary = z.object({
  products: z.array(DashboardProduct),
  totals: z.object({ available: z.int(), reserved: z.int(), sold: z.int() }),
  defaultLowStockThreshold: Threshold,
  /** Orders in `needs_review`, and the age of the oldest one. */
  needsReview: z.object({ count: z.int().min(0), oldestAt: z.iso.datetime().nullable() }),
  ledger: LedgerState,
  alerts: z.array(DashboardAlert),
  generatedAt: z.iso.datetime(),
});
export type DashboardSummary = z.infer<typeof DashboardSummary>;

/** One bucket of sales: paid orders (paid or delivered, not refunded) whose payment landed in it. */
export const SalesPoint = z.object({
  /** Start of the bucket, UTC. */
  start: z.iso.datetime(),
  orders: z.int().min(0),
  units: z.int().min(0),
  revenue: z.array(Money),
});
export type SalesPoint = z.infer<typeof SalesPoint>;

export const SalesSeries = z.object({
  bucket: z.enum(['hour', 'day']),
  points: z.array(SalesPoint),
  totals: z.object({ orders: z.int().min(0), units: z.int().min(0), revenue: z.array(Money) }),
});
export type SalesSeries = z.infer<typeof SalesSeries>;

export const dashboardMethods = {
  'dashboard.summary': method({
    summary: 'stock per product, alerts, orders needing review and the ledger state (verified inline only when small)',
    writes: false,
    input: z.strictObject({}),
    output: DashboardSummary,
  }),
  'dashboard.sales': method({
    summary: 'sales per hour (1-2 days) or per day (more) from paid orders, in the caller’s time zone',
    writes: false,
    input: z.strictObject({
      days: z.int().min(1).max(366),
      /** `Date.prototype.getTimezoneOffset()` of the caller: buckets start at the caller's midnight. */
      tzOffsetMinutes: z.int().min(-840).max(840).default(0),
      productId: z.string().min(1).optional(),
    }),
    output: SalesSeries,
  }),
  'dashboard.verifyLedger': method({
    summary: 'verify the whole ledger now and cache the result (slow on a big ledger: it replays every entry)',
    writes: false,
    input: z.strictObject({}),
    output: LedgerState,
  }),
  'dashboard.setLowStockThreshold': method({
    summary: 'set a product’s low-stock threshold (null: use the default), or the default itself when no product is given',
    writes: true,
    input: z.strictObject({ productId: z.string().min(1).optional(), threshold: Threshold.nullable() }),
    output: z.object({ productId: z.string().nullable(), threshold: Threshold }),
  }),
} as const;
