/**
 * Detectors against imported payment statements: what the provider says happened versus what the shop
 * recorded. A statement row's order is the one a support agent linked its payment to, else the merchant
 * order number the provider echoed, else (for a refund) the order of the payment it refunds.
 */
import type { EvidenceRow } from '../../shared/reconcile';
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { type Collector, iso, makeFinding, orderEvidence, type OrderRowLike } from './finding';

interface EffRow {
  id: number;
  statement_id: number;
  line: number;
  payment_id: string;
  ref_payment_id: string | null;
  order_id: string | null;
  kind: 'payment' | 'refund';
  amount: number;
  currency: string;
  at: number;
  eff_order: string | null;
  linked: number;
}

type Joined = EffRow & { [K in keyof OrderRowLike as `o_${K & string}`]: OrderRowLike[K] | null };

function rowEvidence(r: EffRow): EvidenceRow {
  return {
    source: 'statement_row',
    ref: r.payment_id,
    fields: {
      statement: r.statement_id,
      line: r.line,
      kind: r.kind,
      order: r.order_id,
      refPayment: r.ref_payment_id,
      amount: r.amount,
      currency: r.currency,
      at: iso(r.at),
      linkedTo: r.linked ? r.eff_order : null,
    },
  };
}

function orderOf(r: Joined): OrderRowLike | null {
  if (r.o_id === null) return null;
  return {
    id: r.o_id,
    product_id: r.o_product_id!,
    quantity: r.o_quantity!,
    amount: r.o_amount!,
    currency: r.o_currency!,
    email: r.o_email!,
    status: r.o_status!,
    review_reason: r.o_review_reason,
    created_at: r.o_created_at!,
    expires_at: r.o_expires_at!,
    paid_at: r.o_paid_at,
    delivered_at: r.o_delivered_at,
  };
}

const subjectOf = (r: EffRow): string => (r.kind === 'refund' ? `refund:${r.payment_id}` : r.payment_id);

export function detectStatement(db: ReadableDB, out: Collector, statementIds: readonly number[]): void {
  if (statementIds.length === 0) return;
  const ids = JSON.stringify(statementIds);
  // Statement rows with their effective order and that order's columns, in one pass (each join is an index
  // lookup); only the rows that disagree reach JavaScript (the loop below says how: no order, an unpaid order
  // or a different amount for a payment, an order not refunded for a refund).
  const rows = stmt(
    db,
    `SELECT r.*, l.order_id IS NOT NULL AS linked, o.id AS o_id, o.product_id AS o_product_id, o.quantity AS o_quantity,
       o.amount AS o_amount, o.currency AS o_currency, o.email AS o_email, o.status AS o_status, o.review_reason AS o_review_reason,
       o.created_at AS o_created_at, o.expires_at AS o_expires_at, o.paid_at AS o_paid_at, o.delivered_at AS o_delivered_at,
       coalesce(l.order_id, r.order_id, ref.eff) AS eff_order
     FROM statement_rows r
     LEFT JOIN payment_links l ON l.payment_id = r.payment_id
     LEFT JOIN (SELECT p.payment_id AS pid, coalesce(l2.order_id, p.order_id) AS eff FROM statement_rows p
                LEFT JOIN payment_links l2 ON l2.payment_id = p.payment_id WHERE p.kind = 'payment') ref
       ON r.ref_payment_id IS NOT NULL AND ref.pid = r.ref_payment_id
     LEFT JOIN orders o ON o.id = coalesce(l.order_id, r.order_id, ref.eff)
     WHERE r.statement_id IN (SELECT value FROM json_each(?))
       AND (o.id IS NULL OR CASE r.kind WHEN 'payment' THEN o.paid_at IS NULL OR r.amount <> o.amount OR r.currency <> o.currency
                                         ELSE o.status <> 'refunded' END)
     ORDER BY r.statement_id, r.line`,
  );
  for (const r of rows.iterate(ids) as IterableIterator<Joined>) {
    const order = orderOf(r);
    const money = { amount: r.amount, currency: r.currency };
    if (!order) {
      out.add('statement_payment_unknown_order', () =>
        makeFinding('statement_payment_unknown_order', {
          subject: subjectOf(r),
          paymentId: r.payment_id,
          orderId: r.eff_order,
          amount: money,
          summary: `the provider reports ${r.kind} ${r.payment_id} for ${r.eff_order === null ? 'no order number' : `order ${r.eff_order}`}, which the shop does not have`,
          expected: { order: r.eff_order ?? '(an order)', amount: r.amount, currency: r.currency },
          actual: { order: null, amount: null, currency: null },
          evidence: [rowEvidence(r)],
          actions: ['link_payment', 'resolve'],
        }),
      );
      continue;
    }
    const evidence = (): EvidenceRow[] => [rowEvidence(r), orderEvidence(order)];
    if (r.kind === 'payment') {
      if (order.paid_at === null) {
        out.add('statement_paid_order_unpaid', () =>
          makeFinding('statement_paid_order_unpaid', {
            subject: subjectOf(r),
            paymentId: r.payment_id,
            orderId: order.id,
            productId: order.product_id,
            amount: money,
            summary: `the provider took ${r.amount} ${r.currency} (${r.payment_id}) for order ${order.id}, which the shop never marked paid (${order.status})`,
            expected: { paid: true, status: 'delivered', paidAt: iso(r.at) },
            actual: { paid: false, status: order.status, paidAt: null },
            evidence: evidence(),
            actions: ['link_payment', 'refund', 'resolve'],
          }),
        );
      }
      if (r.amount !== order.amount || r.currency !== order.currency) {
        out.add('amount_mismatch', () =>
          makeFinding('amount_mismatch', {
            subject: subjectOf(r),
            paymentId: r.payment_id,
            orderId: order.id,
            productId: order.product_id,
            amount: { amount: r.amount - order.amount, currency: r.currency },
            summary: `payment ${r.payment_id} is ${r.amount} ${r.currency}; order ${order.id} costs ${order.amount} ${order.currency}`,
            expected: { amount: order.amount, currency: order.currency },
            actual: { amount: r.amount, currency: r.currency },
            evidence: evidence(),
            actions: ['refund', 'resolve'],
          }),
        );
      }
    } else if (order.status !== 'refunded') {
      out.add('statement_refund_not_applied', () =>
        makeFinding('statement_refund_not_applied', {
          subject: subjectOf(r),
          paymentId: r.payment_id,
          orderId: order.id,
          productId: order.product_id,
          amount: money,
          summary: `the provider refunded ${r.amount} ${r.currency} (${r.payment_id}) for order ${order.id}, which is still ${order.status}`,
          expected: { status: 'refunded' },
          actual: { status: order.status },
          evidence: evidence(),
          actions: ['refund', 'resolve'],
        }),
      );
    }
  }

  // Orders the shop marked paid inside a statement's period, in its currencies, that no statement payment names.
  const missing = stmt(
    db,
    `SELECT o.* FROM orders o
     WHERE o.paid_at BETWEEN @start AND @end AND o.currency IN (SELECT value FROM json_each(@currencies))
       AND NOT EXISTS (SELECT 1 FROM statement_rows r WHERE r.order_id = o.id AND r.kind = 'payment'
                         AND r.statement_id IN (SELECT value FROM json_each(@ids))
                         AND NOT EXISTS (SELECT 1 FROM payment_links l WHERE l.payment_id = r.payment_id AND l.order_id <> o.id))
       AND NOT EXISTS (SELECT 1 FROM payment_links l JOIN statement_rows r ON r.payment_id = l.payment_id AND r.kind = 'payment'
                       WHERE l.order_id = o.id AND r.statement_id IN (SELECT value FROM json_each(@ids)))`,
  );
  const periods = stmt(
    db,
    `SELECT s.id, s.source, s.period_start, s.period_end, s.period_rule, (SELECT json_group_array(DISTINCT currency) FROM statement_rows WHERE statement_id = s.id) AS currencies
     FROM statements s WHERE s.id IN (SELECT value FROM json_each(?)) AND s.period_start IS NOT NULL AND s.period_end IS NOT NULL`,
  ).all(ids) as {
    id: number;
    source: string;
    period_start: number;
    period_end: number;
    period_rule: string | null;
    currencies: string;
  }[];
  // Overlapping statements would list an order twice.
  const reported = periods.length > 1 ? new Set<string>() : null;
  for (const period of periods) {
    for (const order of missing.iterate({
      ids,
      start: period.period_start,
      end: period.period_end,
      currencies: period.currencies,
    }) as IterableIterator<OrderRowLike>) {
      if (reported) {
        if (reported.has(order.id)) continue;
        reported.add(order.id);
      }
      reportMissing(order, period);
    }
  }

  function reportMissing(order: OrderRowLike, period: (typeof periods)[number]): void {
    out.add('order_paid_missing_in_statement', () => {
      const payments = stmt(
        db,
        'SELECT event_id, amount, currency, source, outcome, received_at FROM payments WHERE order_id = ? ORDER BY id',
      ).all(order.id) as {
        event_id: string;
        amount: number;
        currency: string;
        source: string;
        outcome: string;
        received_at: number;
      }[];
      return makeFinding('order_paid_missing_in_statement', {
        subject: order.id,
        orderId: order.id,
        productId: order.product_id,
        amount: { amount: order.amount, currency: order.currency },
        summary: `order ${order.id} was marked paid at ${iso(order.paid_at)}, but no statement payment names it`,
        expected: { inStatement: true, amount: order.amount },
        actual: { inStatement: false, amount: null },
        evidence: [
          orderEvidence(order),
          {
            // The period the order fell in, and which rule set it (declared by the bill, its rows' whole days, given).
            source: 'statement' as const,
            ref: `statement:${period.id}`,
            fields: {
              source: period.source,
              periodStart: iso(period.period_start),
              periodEnd: iso(period.period_end),
              periodRule: period.period_rule ?? 'rows',
            },
          },
          ...payments.map((p) => ({
            source: 'payment' as const,
            ref: p.event_id,
            fields: {
              amount: p.amount,
              currency: p.currency,
              source: p.source,
              outcome: p.outcome,
              receivedAt: iso(p.received_at),
            },
          })),
        ],
        actions: ['link_payment', 'refund', 'resolve'],
      });
    });
  }
}
