/**
 * Read-side queries for the admin Orders and Ledger pages: a searchable, paged order list, one order's
 * keys (ids and states only), payments and life-cycle timeline (ledger entries and audit rows), and
 * the ledger newest-first. Nothing here decrypts a code.
 */
import type { ChannelName } from '../../shared/payments';
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { countKeyIds, decodeKeyIds, type LedgerKind, type LedgerRow, type OrderState } from './ledger';
import { getOrder, type OrderView, type PaymentSource } from './orders';

const iso = (ms: number): string => new Date(ms).toISOString();

export interface OrderListQuery {
  readonly q?: string | undefined;
  readonly status?: OrderState | undefined;
  readonly productId?: string | undefined;
  readonly offset: number;
  readonly limit: number;
}

export interface OrderListItem extends OrderView {
  readonly productName: string | null;
}

interface ListRow {
  id: string;
  product_id: string;
  product_name: string | null;
  quantity: number;
  amount: number;
  currency: string;
  email: string;
  status: OrderState;
  review_reason: string | null;
  created_at: number;
  expires_at: number;
  paid_at: number | null;
  delivered_at: number | null;
}

function toItem(row: ListRow): OrderListItem {
  return {
    id: row.id,
    status: row.status,
    productId: row.product_id,
    productName: row.product_name,
    quantity: row.quantity,
    amount: row.amount,
    currency: row.currency,
    email: row.email,
    createdAt: iso(row.created_at),
    expiresAt: iso(row.expires_at),
    paidAt: row.paid_at === null ? null : iso(row.paid_at),
    deliveredAt: row.delivered_at === null ? null : iso(row.delivered_at),
    reviewReason: row.review_reason,
  };
}

/** Escapes LIKE wildcards so a search for `a_b` matches that text only. */
function likeText(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Orders newest first. `q` matches an order id prefix or any part of the buyer's e-mail (case-insensitive). */
export function listOrders(db: ReadableDB, query: OrderListQuery): { orders: OrderListItem[]; total: number } {
  const where: string[] = [];
  const params: unknown[] = [];
  const q = query.q?.trim();
  if (q) {
    where.push(`(o.id LIKE ? ESCAPE '\\' OR o.email LIKE ? ESCAPE '\\')`);
    params.push(`${likeText(q)}%`, `%${likeText(q)}%`);
  }
  if (query.status) {
    where.push('o.status = ?');
    params.push(query.status);
  }
  if (query.productId) {
    where.push('o.product_id = ?');
    params.push(query.productId);
  }
  const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
  // One read transaction, so the count and the page agree while sales are committing.
  return db.transaction(() => {
    const total = stmt(db, `SELECT count(*) FROM orders o ${clause}`)
      .pluck()
      .get(...params) as number;
    const rows = stmt(
      db,
      `SELECT o.*, p.name AS product_name FROM orders o LEFT JOIN products p ON p.id = o.product_id
       ${clause} ORDER BY o.created_at DESC, o.id DESC LIMIT ? OFFSET ?`,
    ).all(...params, query.limit, query.offset) as ListRow[];
    return { orders: rows.map(toItem), total };
  })();
}

export interface OrderKeyView {
  readonly id: number;
  readonly status: 'reserved' | 'sold' | 'burned' | 'returned';
  readonly deliveredAt: string | null;
  readonly returnedAt: string | null;
}

export interface PaymentView {
  readonly eventId: string;
  readonly amount: number;
  readonly currency: string;
  readonly source: PaymentSource;
  readonly outcome: 'delivered' | 'needs_review' | 'ignored';
  readonly receivedAt: string;
  readonly tradeNo: string | null;
  readonly via: 'notify' | 'query' | null;
}

export interface CheckoutSummary {
  readonly channel: ChannelName;
  readonly method: string;
  readonly state: 'open' | 'paid' | 'closed';
  readonly amount: number;
  readonly currency: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly queries: number;
  readonly lastQueryAt: string | null;
  readonly lastQueryStatus: string | null;
  readonly nextQueryAt: string | null;
}

export interface TimelineEntry {
  readonly source: 'ledger' | 'audit';
  readonly at: string;
  readonly event: string;
  readonly seq: number | null;
  readonly orderTo: OrderState | null;
  readonly keyIds: number[];
  readonly actor: string | null;
  readonly detail: Record<string, unknown>;
}

export interface OrderDetailView {
  readonly order: OrderListItem;
  readonly keys: OrderKeyView[];
  readonly payments: PaymentView[];
  readonly checkouts: CheckoutSummary[];
  readonly timeline: TimelineEntry[];
}

function parseDetail(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { value };
  } catch {
    return { unreadable: true };
  }
}

/** Keys the order holds or was ever delivered, with the latest delivery of each to this order. */
export function orderKeys(db: ReadableDB, orderId: string): OrderKeyView[] {
  const rows = stmt(
    db,
    `SELECT k.id, k.status, k.order_id,
        (SELECT d.delivered_at FROM deliveries d WHERE d.key_id = k.id AND d.order_id = @o ORDER BY d.id DESC LIMIT 1) AS delivered_at,
        (SELECT d.returned_at FROM deliveries d WHERE d.key_id = k.id AND d.order_id = @o ORDER BY d.id DESC LIMIT 1) AS returned_at
     FROM keys k
     WHERE k.order_id = @o OR k.id IN (SELECT key_id FROM deliveries WHERE order_id = @o)
     ORDER BY k.id`,
  ).all({ o: orderId }) as {
    id: number;
    status: string;
    order_id: string | null;
    delivered_at: number | null;
    returned_at: number | null;
  }[];
  return rows.map((r) => ({
    id: r.id,
    status:
      r.order_id === orderId && (r.status === 'reserved' || r.status === 'sold' || r.status === 'burned') ? r.status : 'returned',
    deliveredAt: r.delivered_at === null ? null : iso(r.delivered_at),
    returnedAt: r.returned_at === null ? null : iso(r.returned_at),
  }));
}

/** One order with its keys, payments and timeline; null when there is no such order. */
export function orderDetail(db: ReadableDB, orderId: string): OrderDetailView | null {
  return db.transaction((): OrderDetailView | null => {
    const order = getOrder(db, orderId);
    if (!order) return null;
    const product = stmt(db, 'SELECT name FROM products WHERE id = ?').pluck().get(order.productId) as string | undefined;
    const keys = orderKeys(db, orderId);
    const payments = (
      stmt(
        db,
        'SELECT event_id, amount, currency, source, outcome, received_at, trade_no, via FROM payments WHERE order_id = ? ORDER BY id',
      ).all(orderId) as {
        event_id: string;
        amount: number;
        currency: string;
        source: PaymentSource;
        outcome: 'delivered' | 'needs_review' | 'ignored';
        received_at: number;
        trade_no: string | null;
        via: 'notify' | 'query' | null;
      }[]
    ).map((p) => ({
      eventId: p.event_id,
      amount: p.amount,
      currency: p.currency,
      source: p.source,
      outcome: p.outcome,
      receivedAt: iso(p.received_at),
      tradeNo: p.trade_no,
      via: p.via,
    }));
    // The payment service's table (src-main/payments/records.ts writes it); read here with the rest.
    const checkoutRows = stmt(
      db,
      `SELECT channel, method, state, amount, currency, created_at, expires_at, queries, last_query_at, last_query_status, next_query_at
       FROM checkouts WHERE order_id = ? ORDER BY id`,
    ).all(orderId) as {
      channel: ChannelName;
      method: string;
      state: 'open' | 'paid' | 'closed';
      amount: number;
      currency: string;
      created_at: number;
      expires_at: number;
      queries: number;
      last_query_at: number | null;
      last_query_status: string | null;
      next_query_at: number | null;
    }[];
    const checkouts = checkoutRows.map((c): CheckoutSummary => ({
      channel: c.channel,
      method: c.method,
      state: c.state,
      amount: c.amount,
      currency: c.currency,
      createdAt: iso(c.created_at),
      expiresAt: iso(c.expires_at),
      queries: c.queries,
      lastQueryAt: c.last_query_at === null ? null : iso(c.last_query_at),
      lastQueryStatus: c.last_query_status,
      nextQueryAt: c.next_query_at === null ? null : iso(c.next_query_at),
    }));

    const ledger = stmt(db, 'SELECT seq, at, kind, key_ids, detail FROM ledger WHERE order_id = ? ORDER BY seq').all(
      orderId,
    ) as Pick<LedgerRow, 'seq' | 'at' | 'kind' | 'key_ids' | 'detail'>[];
    const timeline: (TimelineEntry & { ms: number; order: number })[] = ledger.map((row) => {
      const detail = parseDetail(row.detail);
      const orderTo = typeof detail.orderTo === 'string' ? (detail.orderTo as OrderState) : null;
      const actor = typeof detail.actor === 'string' ? detail.actor : null;
      return {
        source: 'ledger',
        at: iso(row.at),
        ms: row.at,
        order: 0,
        event: row.kind,
        seq: row.seq,
        orderTo,
        keyIds: decodeKeyIds(row.key_ids),
        actor,
        detail,
      };
    });
    // Audit rows about the order itself or about one of its keys (a reveal names the key).
    const subjects = [orderId, ...keys.flatMap((k) => [String(k.id), `key:${k.id}`])];
    const audits = stmt(
      db,
      'SELECT at, actor, action, subject, detail FROM audit WHERE subject IN (SELECT value FROM json_each(?)) ORDER BY id',
    ).all(JSON.stringify(subjects)) as { at: number; actor: string; action: string; subject: string; detail: string }[];
    for (const row of audits) {
      const detail = parseDetail(row.detail);
      const keyMatch = /^(?:key:)?(\d+)$/.exec(row.subject);
      timeline.push({
        source: 'audit',
        at: iso(row.at),
        ms: row.at,
        order: 1,
        event: row.action,
        seq: null,
        orderTo: null,
        keyIds: keyMatch ? [Number(keyMatch[1])] : [],
        actor: row.actor,
        detail,
      });
    }
    // Oldest first; at the same instant the ledger entry (what happened) before the audit row (who did it).
    timeline.sort((a, b) => a.ms - b.ms || a.order - b.order);
    return {
      order: { ...order, productName: product ?? null },
      keys,
      payments,
      checkouts,
      timeline: timeline.map(({ ms: _ms, order: _order, ...item }) => item),
    };
  })();
}

export interface LedgerEntryView {
  readonly seq: number;
  readonly at: string;
  readonly kind: LedgerKind;
  readonly productId: string;
  readonly orderId: string | null;
  readonly keyIds: string;
  readonly keyCount: number;
  readonly detail: Record<string, unknown>;
  readonly hash: string;
}

function keyCount(text: string): number {
  try {
    return countKeyIds(text);
  } catch {
    return 0; // damaged: verify names it; the list still shows the entry
  }
}

/** Ledger entries newest first, before `beforeSeq` when given, optionally for one order. */
export function listLedger(
  db: ReadableDB,
  query: { beforeSeq?: number | undefined; orderId?: string | undefined; limit: number },
): { entries: LedgerEntryView[]; head: number; nextBeforeSeq: number | null } {
  return db.transaction(() => {
    const head = stmt(db, 'SELECT coalesce(max(seq), 0) FROM ledger').pluck().get() as number;
    const before = query.beforeSeq ?? head + 1;
    const rows = (
      query.orderId === undefined
        ? stmt(db, 'SELECT * FROM ledger WHERE seq < ? ORDER BY seq DESC LIMIT ?').all(before, query.limit + 1)
        : stmt(db, 'SELECT * FROM ledger WHERE seq < ? AND order_id = ? ORDER BY seq DESC LIMIT ?').all(
            before,
            query.orderId,
            query.limit + 1,
          )
    ) as LedgerRow[];
    const page = rows.slice(0, query.limit);
    const entries = page.map((row) => ({
      seq: row.seq,
      at: iso(row.at),
      kind: row.kind,
      productId: row.product_id,
      orderId: row.order_id,
      keyIds: row.key_ids,
      keyCount: keyCount(row.key_ids),
      detail: parseDetail(row.detail),
      hash: Buffer.from(row.hash).toString('hex').slice(0, 16),
    }));
    const last = page.at(-1);
    return { entries, head, nextBeforeSeq: rows.length > query.limit && last ? last.seq : null };
  })();
}
