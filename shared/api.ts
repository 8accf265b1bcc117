/**
 * The shop endpoint's wire contract as zod schemas (see ../shared/spec/http-api.md): what the HTTP
 * server validates requests with, what it serializes responses through, what its OpenAPI document is
 * generated from, and what a renderer or a shop front can import to type its calls.
 *
 * Imports nothing from Node, the DOM or Electron (only zod and shared/), so both tsconfigs compile it.
 * Money is integer minor units plus an ISO 4217 currency; timestamps are RFC 3339 strings in UTC.
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './errors';
import { Cell } from './reconcile';

/** The base path every endpoint lives under. */
export const API_PREFIX = '/api/v1';

/** Longest accepted `Idempotency-Key` (printable ASCII, after removing structured-field quotes). */
export const IDEMPOTENCY_KEY_MAX = 255;

/** Header names of the contract (lower case, as Node presents them). */
export const HEADERS = {
  idempotencyKey: 'idempotency-key',
  idempotentReplayed: 'idempotent-replayed',
  signature: 'oncekey-signature',
} as const;

/** How far (seconds) a webhook signature's timestamp may be from the server's clock. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** An ISO 4217 currency code: three upper-case letters. */
export const Currency = z.string().regex(/^[A-Z]{3}$/, 'a currency is three upper-case letters (ISO 4217)');

/** Money: `{"amount": 5000, "currency": "CNY"}` is 50.00 CNY. */
export const Money = z
  .strictObject({
    amount: z.int().min(0).describe('integer amount in the currency minor unit'),
    currency: Currency,
  })
  .meta({ id: 'Money' });
export type Money = z.infer<typeof Money>;

const Timestamp = z.iso.datetime().describe('RFC 3339, UTC');
const Id = z.string().min(1).max(100);

/** Every order status, in life-cycle order. */
export const OrderStatus = z.enum(['reserved', 'paid', 'delivered', 'expired', 'refunded', 'needs_review']);
export type OrderStatus = z.infer<typeof OrderStatus>;

/** RFC 9457 problem details, with our stable `code`; `errors` lists the fields a 422 is about. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .describe('validation_failed: one entry per offending field; unknown fields are named in path'),
  })
  .meta({ id: 'Problem' });
export type Problem = z.infer<typeof Problem>;

// ---------------------------------------------------------------- public

/** A product as the shop front sees it. */
export const PublicProduct = z.object({
  id: z.string(),
  name: z.string(),
  price: Money,
  stock: z.object({ available: z.int().min(0).describe('keys neither reserved nor sold') }),
});
export type PublicProduct = z.infer<typeof PublicProduct>;

/** `GET /api/v1/products`: the products on sale. */
export const ProductList = z.object({ products: z.array(PublicProduct) });
export type ProductList = z.infer<typeof ProductList>;

/** `POST /api/v1/orders` body. Unknown fields are refused. */
export const CreateOrderBody = z.strictObject({
  productId: Id,
  quantity: z.int().min(1).max(1000),
  email: z.string().min(3).max(254),
});
export type CreateOrderBody = z.infer<typeof CreateOrderBody>;

/** An order as its buyer sees it. `codes` is present only when the order is `delivered`. */
export const PublicOrder = z.object({
  id: z.string(),
  status: OrderStatus,
  productId: z.string(),
  quantity: z.int().min(1),
  amount: z.int().min(0),
  currency: Currency,
  email: z.string(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  paidAt: Timestamp.nullable(),
  deliveredAt: Timestamp.nullable(),
  codes: z.array(z.string()).optional(),
});
export type PublicOrder = z.infer<typeof PublicOrder>;

/** The order returned once, at creation: the only time its access token is shown. */
export const CreatedOrder = PublicOrder.omit({ codes: true }).extend({
  status: z.literal('reserved'),
  accessToken: z.string().describe('bearer token for GET /api/v1/orders/{id}; 256 random bits'),
});
export type CreatedOrder = z.infer<typeof CreatedOrder>;

/** `POST /api/v1/orders` 201 body. */
export const CreatedOrderResponse = z.object({ order: CreatedOrder });
export type CreatedOrderResponse = z.infer<typeof CreatedOrderResponse>;

/** `GET /api/v1/orders/{id}` 200 body. */
export const OrderResponse = z.object({ order: PublicOrder });
export type OrderResponse = z.infer<typeof OrderResponse>;

/** A path with one id. */
export const IdParams = z.object({ id: z.string() });

/** Header of order creation (documented; the server reads it before validation). */
export const CreateOrderHeaders = z.object({
  [HEADERS.idempotencyKey]: z
    .string()
    .describe('1..255 printable ASCII characters, bare or as a structured-field string ("..."); results kept at least 24 h'),
});

/**
 * `POST /api/v1/payments/webhook` body, signed with `OnceKey-Signature`. Fields the gateway adds
 * beyond these are ignored rather than refused: a signed payment must never bounce on a new field.
 */
export const WebhookEvent = z.object({
  id: z.string().min(1).max(255).describe('the gateway event id; the same id never takes effect twice'),
  orderId: z.string().min(1).max(100),
  amount: z.int().min(0),
  currency: z.string().regex(/^[A-Za-z]{3}$/),
  status: z.string().max(64).describe('only "succeeded" pays an order; other statuses are acknowledged'),
});
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/** Header of the webhook. */
export const WebhookHeaders = z.object({
  [HEADERS.signature]: z
    .string()
    .describe('t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=...]; 300 s window')
    .optional(),
});

/** The webhook's answer to any correctly signed event. */
export const WebhookAck = z.object({ received: z.literal(true) });

/** `GET /api/v1/health`. */
export const Health = z.object({ ok: z.literal(true) });

// ---------------------------------------------------------------- admin

/** Stock of one product, from the stored counters. */
export const Stock = z.object({ available: z.int().min(0), reserved: z.int().min(0), sold: z.int().min(0) });
export type Stock = z.infer<typeof Stock>;

/** A product as the owner sees it. */
export const AdminProduct = z.object({
  id: z.string(),
  name: z.string(),
  price: Money,
  onSale: z.boolean(),
  stock: Stock,
  createdAt: Timestamp,
});
export type AdminProduct = z.infer<typeof AdminProduct>;

/** `POST /api/v1/admin/products` body. */
export const CreateProductBody = z.strictObject({
  name: z.string().min(1).max(200),
  price: Money,
  onSale: z.boolean().optional(),
});
export type CreateProductBody = z.infer<typeof CreateProductBody>;

/** `POST /api/v1/admin/products` 201 body. */
export const ProductResponse = z.object({ product: AdminProduct });

/** `POST /api/v1/admin/products/{id}/keys` JSON body (the other form is text/plain, one code per line). */
export const ImportKeysJson = z.strictObject({
  codes: z
    .array(
      z
        .string()
        .max(1000)
        .regex(/^[^\r\n]*$/, 'a code is one line'),
    )
    .max(200_000),
});
export type ImportKeysJson = z.infer<typeof ImportKeysJson>;

/** What an import did: all accepted codes stored, or none (then the request failed). */
export const ImportReport = z.object({
  imported: z.int().min(0),
  duplicates: z.int().min(0).describe('duplicates inside the upload plus codes already in the vault'),
  duplicatesInBatch: z.int().min(0),
  duplicatesInVault: z.int().min(0),
  rejected: z.array(z.object({ line: z.int().min(1), reason: z.string() })),
});
export type ImportReport = z.infer<typeof ImportReport>;

/** An order as the owner sees it: the buyer's view plus why it needs review. */
export const AdminOrder = PublicOrder.omit({ codes: true }).extend({ reviewReason: z.string().nullable() });
export type AdminOrder = z.infer<typeof AdminOrder>;

/** `POST /api/v1/admin/orders/{id}/mark-paid` 200 body. */
export const AdminOrderResponse = z.object({ order: AdminOrder });

/** `mark-paid` takes no fields; an empty JSON object is accepted. */
export const MarkPaidBody = z.strictObject({}).nullish();

/**
 * A finding of the kinds beyond the first two: its stable id (`<kind>:<subject>`, resolutions stick to
 * it), whether someone resolved it, what it is about, and the expected and actual values side by side.
 */
function detailedFinding<K extends string>(kind: K) {
  return z.object({
    kind: z.literal(kind),
    id: z.string(),
    status: z.enum(['open', 'resolved']),
    orderId: z.string().nullable(),
    productId: z.string().nullable(),
    paymentId: z.string().nullable(),
    keyIds: z.array(z.int()),
    summary: z.string(),
    expected: z.record(z.string(), Cell),
    actual: z.record(z.string(), Cell),
  });
}

/** One disagreement reconciliation found (the full form with evidence is shared/reconcile.ts `ReconcileFinding`). */
export const Finding = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('needs_review'), orderId: z.string(), reason: z.string() }),
  z.object({ kind: z.literal('stock_drift'), productId: z.string(), stored: Stock, actual: Stock }),
  detailedFinding('key_sold_twice'),
  detailedFinding('paid_not_delivered'),
  detailedFinding('delivered_not_paid'),
  detailedFinding('expired_hold'),
  detailedFinding('ledger_broken'),
  detailedFinding('ledger_state_mismatch'),
  detailedFinding('statement_payment_unknown_order'),
  detailedFinding('statement_paid_order_unpaid'),
  detailedFinding('order_paid_missing_in_statement'),
  detailedFinding('amount_mismatch'),
  detailedFinding('statement_refund_not_applied'),
]);
export type Finding = z.infer<typeof Finding>;

/** `GET /api/v1/admin/reconciliation` 200 body. */
export const Reconciliation = z.object({ findings: z.array(Finding) });
export type Reconciliation = z.infer<typeof Reconciliation>;

/** `GET /api/v1/admin/ledger/verify` 200 body. */
export const LedgerVerify = z.object({
  ok: z.boolean(),
  entries: z.int().min(0),
  firstBadEntry: z.int().optional(),
  problems: z.array(z.object({ seq: z.int().nullable(), reason: z.string() })),
});
export type LedgerVerify = z.infer<typeof LedgerVerify>;
