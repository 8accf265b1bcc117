/**
 * Reconciliation's shared vocabulary: the finding kinds, a finding with its evidence (expected and actual
 * side by side), statement formats, support actions and the dispute timeline. The main process, the CLI,
 * the RPC methods and the Reconcile page all compile against these zod schemas.
 *
 * Imports only zod: both tsconfigs compile it.
 */
import { z } from 'zod';

/** Every kind of disagreement, in the order the page lists them. */
export const FINDING_KINDS = [
  'key_sold_twice',
  'paid_not_delivered',
  'delivered_not_paid',
  'expired_hold',
  'stock_drift',
  'ledger_broken',
  'ledger_state_mismatch',
  'needs_review',
  'statement_payment_unknown_order',
  'statement_paid_order_unpaid',
  'order_paid_missing_in_statement',
  'amount_mismatch',
  'statement_refund_not_applied',
] as const;
export const FindingKind = z.enum(FINDING_KINDS);
export type FindingKind = z.infer<typeof FindingKind>;

/** Kinds that need an imported payment statement. */
export const STATEMENT_KINDS: readonly FindingKind[] = [
  'statement_payment_unknown_order',
  'statement_paid_order_unpaid',
  'order_paid_missing_in_statement',
  'amount_mismatch',
  'statement_refund_not_applied',
];

/** A scalar cell of evidence. */
export const Cell = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Cell = z.infer<typeof Cell>;

/** One row the finding rests on: which table, which row, the columns that matter. */
export const EvidenceRow = z.object({
  source: z.enum(['order', 'key', 'delivery', 'payment', 'statement', 'statement_row', 'ledger', 'product', 'link']),
  ref: z.string(),
  fields: z.record(z.string(), Cell),
});
export type EvidenceRow = z.infer<typeof EvidenceRow>;

/** The support actions. */
export const ACTIONS = ['redeliver', 'refund', 'release', 'link_payment', 'resolve'] as const;
export const ActionKind = z.enum(ACTIONS);
export type ActionKind = z.infer<typeof ActionKind>;

export const Resolution = z.object({
  action: z.string(),
  note: z.string(),
  actor: z.string(),
  at: z.string().describe('RFC 3339, UTC'),
});
export type Resolution = z.infer<typeof Resolution>;

/**
 * One disagreement. `id` is `<kind>:<subject>` and stays the same across runs while the disagreement
 * lasts, so a resolution sticks to it. `expected` and `actual` hold the same keys, side by side.
 */
export const ReconcileFinding = z.object({
  id: z.string(),
  kind: FindingKind,
  subject: z.string(),
  status: z.enum(['open', 'resolved']),
  orderId: z.string().nullable(),
  productId: z.string().nullable(),
  paymentId: z.string().nullable(),
  keyIds: z.array(z.int()),
  /** Money at stake (minor units), when there is some. */
  amount: z.object({ amount: z.int(), currency: z.string() }).nullable(),
  summary: z.string(),
  expected: z.record(z.string(), Cell),
  actual: z.record(z.string(), Cell),
  evidence: z.array(EvidenceRow),
  /** What a support agent can do about it. */
  actions: z.array(ActionKind),
  resolution: Resolution.nullable(),
  /** Still detected now (false: resolved and no longer found; kept visible as resolved). */
  present: z.boolean(),
});
export type ReconcileFinding = z.infer<typeof ReconcileFinding>;

/** A run's result: the findings (at most `limitPerKind` of each kind) and the full count per kind. */
export const ReconcileReport = z.object({
  ranAt: z.string(),
  statementIds: z.array(z.int()),
  findings: z.array(ReconcileFinding),
  counts: z.record(z.string(), z.object({ open: z.int(), resolved: z.int() })),
  truncated: z.boolean(),
});
export type ReconcileReport = z.infer<typeof ReconcileReport>;

// ---------------------------------------------------------------- statements

export const STATEMENT_FORMATS = ['wechat', 'alipay', 'stripe', 'paypal', 'generic'] as const;
export const StatementFormat = z.enum(STATEMENT_FORMATS);
export type StatementFormat = z.infer<typeof StatementFormat>;

/** Which column holds what, for a CSV no preset knows. Columns are header names or 1-based numbers. */
export const ColumnMapping = z.strictObject({
  paymentId: z.string().min(1),
  orderId: z.string().min(1).optional(),
  amount: z.string().min(1),
  currency: z.string().min(1).optional(),
  /** Used when there is no currency column. */
  defaultCurrency: z
    .string()
    .regex(/^[A-Z]{3}$/)
    .optional(),
  status: z.string().min(1).optional(),
  time: z.string().min(1),
  /** `major`: "50.00"; `minor`: 5000. */
  amountUnit: z.enum(['major', 'minor']).default('major'),
  /** Offset for times written without one, e.g. "+08:00"; default UTC. */
  utcOffset: z
    .string()
    .regex(/^[+-]\d{2}:\d{2}$/)
    .optional(),
  /** Status values meaning a refund (the rest are payments); default refund|refunded|退款. */
  refundValues: z.array(z.string()).optional(),
});
export type ColumnMapping = z.infer<typeof ColumnMapping>;

/** One normalised statement row. */
export const StatementRow = z.object({
  line: z.int(),
  paymentId: z.string(),
  refPaymentId: z.string().nullable(),
  orderId: z.string().nullable(),
  kind: z.enum(['payment', 'refund']),
  amount: z.int().min(0),
  currency: z.string(),
  at: z.string().describe('RFC 3339, UTC'),
});
export type StatementRow = z.infer<typeof StatementRow>;

/** What parsing a statement gave: its rows, the lines skipped (with why), and the period covered. */
export const ParsedStatement = z.object({
  format: z.string(),
  rows: z.array(StatementRow),
  skipped: z.array(z.object({ line: z.int(), reason: z.string() })),
  periodStart: z.string().nullable(),
  periodEnd: z.string().nullable(),
});
export type ParsedStatement = z.infer<typeof ParsedStatement>;

export const StatementInfo = z.object({
  id: z.int(),
  format: z.string(),
  source: z.string(),
  rows: z.int(),
  periodStart: z.string().nullable(),
  periodEnd: z.string().nullable(),
  /** How the period was set: declared by the bill, the whole days its rows cover, or given at import; null: before this was recorded. */
  periodRule: z.enum(['declared', 'row_days', 'given']).nullable(),
  importedAt: z.string(),
});
export type StatementInfo = z.infer<typeof StatementInfo>;

// ---------------------------------------------------------------- actions

/** One target of an action: the finding it answers and the order / payment it acts on. */
export const ActionTarget = z.strictObject({
  findingId: z.string().min(1).max(300),
  orderId: z.string().min(1).max(100).optional(),
  paymentId: z.string().min(1).max(300).optional(),
});
export type ActionTarget = z.infer<typeof ActionTarget>;

export const ActionRequest = z.strictObject({
  action: ActionKind,
  targets: z.array(ActionTarget).min(1).max(1000),
  note: z.string().trim().min(1, 'a note saying why is required').max(2000),
  /** refund: burn the delivered keys (the buyer saw them) or return them to sale. */
  keys: z.enum(['burn', 'return']).optional(),
  /** true: say what would happen, change nothing. */
  preview: z.boolean().default(false),
});
export type ActionRequest = z.input<typeof ActionRequest>;

export const ActionOutcome = z.object({
  findingId: z.string(),
  action: ActionKind,
  orderId: z.string().nullable(),
  effects: z.array(z.string()),
});
export type ActionOutcome = z.infer<typeof ActionOutcome>;

export const ActionResult = z.object({ preview: z.boolean(), outcomes: z.array(ActionOutcome) });
export type ActionResult = z.infer<typeof ActionResult>;

// ---------------------------------------------------------------- disputes

export const TimelineEvent = z.object({
  at: z.string(),
  source: z.enum(['order', 'ledger', 'audit', 'delivery', 'payment', 'statement', 'resolution']),
  ref: z.string(),
  orderId: z.string().nullable(),
  what: z.string(),
  detail: z.record(z.string(), Cell),
});
export type TimelineEvent = z.infer<typeof TimelineEvent>;

export const LookupResult = z.object({
  query: z.string(),
  matchedBy: z.enum(['order', 'email', 'payment', 'code', 'none']),
  orders: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      productId: z.string(),
      email: z.string(),
      amount: z.int(),
      currency: z.string(),
      createdAt: z.string(),
      reviewReason: z.string().nullable(),
    }),
  ),
  keys: z.array(
    z.object({ id: z.int(), productId: z.string(), status: z.string(), orderId: z.string().nullable(), fingerprint: z.string() }),
  ),
  timeline: z.array(TimelineEvent),
});
export type LookupResult = z.infer<typeof LookupResult>;

/** Cells a spreadsheet would run as a formula start with one of these. */
export const FORMULA_LEAD = /^[=+\-@\t\r]/;
