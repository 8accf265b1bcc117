/**
 * Building findings: the stable id (`<kind>:<subject>`), evidence rows from database rows, and the
 * collector that keeps at most `limitPerKind` findings of each kind in memory while counting them all,
 * so a badly broken million-order shop still reconciles in bounded memory.
 */
import type { ActionKind, Cell, EvidenceRow, FindingKind, ReconcileFinding } from '../../shared/reconcile';

export const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : new Date(ms).toISOString();

export function findingId(kind: FindingKind, subject: string): string {
  return `${kind}:${subject}`;
}

export interface FindingInput {
  readonly subject: string;
  readonly orderId?: string | null;
  readonly productId?: string | null;
  readonly paymentId?: string | null;
  readonly keyIds?: readonly number[];
  readonly amount?: { amount: number; currency: string } | null;
  readonly summary: string;
  readonly expected: Record<string, Cell>;
  readonly actual: Record<string, Cell>;
  readonly evidence?: readonly EvidenceRow[];
  readonly actions: readonly ActionKind[];
}

/** A finding before resolutions are applied. */
export function makeFinding(kind: FindingKind, input: FindingInput): ReconcileFinding {
  return {
    id: findingId(kind, input.subject),
    kind,
    subject: input.subject,
    status: 'open',
    orderId: input.orderId ?? null,
    productId: input.productId ?? null,
    paymentId: input.paymentId ?? null,
    keyIds: [...(input.keyIds ?? [])],
    amount: input.amount ?? null,
    summary: input.summary,
    expected: input.expected,
    actual: input.actual,
    evidence: [...(input.evidence ?? [])],
    actions: [...input.actions],
    resolution: null,
    present: true,
  };
}

/** Columns of an order that evidence shows. */
export interface OrderRowLike {
  id: string;
  product_id: string;
  quantity: number;
  amount: number;
  currency: string;
  email: string;
  status: string;
  review_reason: string | null;
  created_at: number;
  expires_at: number;
  paid_at: number | null;
  delivered_at: number | null;
}

export function orderEvidence(row: OrderRowLike): EvidenceRow {
  return {
    source: 'order',
    ref: row.id,
    fields: {
      status: row.status,
      product: row.product_id,
      quantity: row.quantity,
      amount: row.amount,
      currency: row.currency,
      email: row.email,
      reviewReason: row.review_reason,
      createdAt: iso(row.created_at),
      expiresAt: iso(row.expires_at),
      paidAt: iso(row.paid_at),
      deliveredAt: iso(row.delivered_at),
    },
  };
}

/** Keeps the first `limit` findings of each kind; counts every one. */
export class Collector {
  readonly findings: ReconcileFinding[] = [];
  readonly counts = new Map<FindingKind, number>();
  truncated = false;

  constructor(private readonly limitPerKind: number) {}

  /** True when another finding of `kind` would still be kept (callers skip building evidence otherwise). */
  wants(kind: FindingKind): boolean {
    return (this.counts.get(kind) ?? 0) < this.limitPerKind;
  }

  /** Counts a finding; `build` runs only when it is kept. */
  add(kind: FindingKind, build: () => ReconcileFinding): void {
    const n = this.counts.get(kind) ?? 0;
    this.counts.set(kind, n + 1);
    if (n < this.limitPerKind) this.findings.push(build());
    else this.truncated = true;
  }
}
