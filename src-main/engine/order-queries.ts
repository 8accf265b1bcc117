/**
 * Read-side queries for the admin Orders and Ledger pages: a searchable, paged order list, one order's
 * keys (ids and states only), payments and life-cycle timeline (ledger entries and audit rows), and
 * the ledger newest-first. Nothing here decrypts a code.
 *
 * Every query is SQL both backends speak, run through a SqlReader (db/sql.ts): the same text on SQLite
 * and PostgreSQL, and the same answer. What that takes:
 * - a page and its total (`orders.list`), a page and the ledger's head (`ledger.list`) come from ONE
 *   statement (the total or head as a scalar subquery), so they agree while sales commit on either
 *   backend; only an empty page asks again for its total;
 * - the e-mail and id search folds case with `lower()` on both sides (SQLite's LIKE ignores ASCII case,
 *   PostgreSQL's does not). SQLite's lower() folds ASCII only; PostgreSQL's folds every letter its
 *   collation knows (under a C collation, ASCII only): a search with non-ASCII capitals can match more
 *   on PostgreSQL;
 * - text is ordered only by order id, and on PostgreSQL as bytes (`COLLATE "C"`, the one place the SQL
 *   differs by backend; SQLite compares bytes already): a linguistic collation would ignore the case and
 *   the `-` and `_` of the ids' base64url part;
 * - no `json_each` (an order's audit subjects are a subquery), no `pluck`, numbers compared as numbers.
 *
 * `orderDetail` reads in several statements: on PostgreSQL the caller runs it in one snapshot
 * (pg/snapshot-read.ts); on SQLite its reads answer at once, one after another, with no write of this
 * process in between.
 */
import type { ChannelName } from '../../shared/payments';
import { byBytes, firstNumber, type SqlReader } from '../db/sql';
import { countKeyIds, decodeKeyIds, type LedgerKind, type LedgerRow, type OrderState } from './ledger';
import type { PaymentSource } from './order-payment';
import { toView, type OrderRow, type OrderView } from './order-rows';

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

interface ListRow extends OrderRow {
  product_name: string | null;
}

function toItem(row: ListRow): OrderListItem {
  return { ...toView(row), productName: row.product_name };
}

const ORDER_COLUMNS = 'o.*, p.name AS product_name';

/** Escapes LIKE wildcards so a search for `a_b` matches that text only. */
function likeText(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Orders newest first. `q` matches an order id prefix or any part of the buyer's e-mail (case-insensitive). */
export async function listOrders(sql: SqlReader, query: OrderListQuery): Promise<{ orders: OrderListItem[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const q = query.q?.trim();
  if (q) {
    where.push(`(lower(o.id) LIKE lower(?) ESCAPE '\\' OR lower(o.email) LIKE lower(?) ESCAPE '\\')`);
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
  const count = `SELECT count(*) FROM orders o ${clause}`;
  // One statement, so the count and the page agree while sales are committing.
  const rows = await sql.all<ListRow & { total: number }>(
    `SELECT ${ORDER_COLUMNS}, (${count}) AS total
     FROM orders o LEFT JOIN products p ON p.id = o.product_id
     ${clause} ORDER BY o.created_at DESC, ${byBytes(sql, 'o.id')} DESC LIMIT ? OFFSET ?`,
    [...params, ...params, query.limit, query.offset],
  );
  const total = rows[0] ? Number(rows[0].total) : firstNumber(await sql.get(count, params));
  return { orders: rows.map(toItem), total };
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

/** `keys k` rows of the order `?` (twice): held or sold to it, or ever delivered to it. */
const ORDER_KEY = 'k.order_id = ? OR k.id IN (SELECT key_id FROM deliveries WHERE order_id = ?)';

/** Keys the order holds or was ever delivered, with the latest delivery of each to this order. */
export async function orderKeys(sql: SqlReader, orderId: string): Promise<OrderKeyView[]> {
  const rows = await sql.all<{
    id: number;
    status: string;
    order_id: string | null;
    delivered_at: number | null;
    returned_at: number | null;
  }>(
    `SELECT k.id, k.status, k.order_id,
        (SELECT d.delivered_at FROM deliveries d WHERE d.key_id = k.id AND d.order_id = ? ORDER BY d.id DESC LIMIT 1) AS delivered_at,
        (SELECT d.returned_at FROM deliveries d WHERE d.key_id = k.id AND d.order_id = ? ORDER BY d.id DESC LIMIT 1) AS returned_at
     FROM keys k WHERE ${ORDER_KEY} ORDER BY k.id`,
    [orderId, orderId, orderId, orderId],
  );
  return rows.map((r) => ({
    id: r.id,
    status:
      r.order_id === orderId && (r.status === 'reserved' || r.status === 'sold' || r.status === 'burned') ? r.status : 'returned',
    deliveredAt: r.delivered_at === null ? null : iso(r.delivered_at),
    returnedAt: r.returned_at === null ? null : iso(r.returned_at),
  }));
}

/** One order with its keys, payments and timeline; null when there is no such order. */
export async function orderDetail(sql: SqlReader, orderId: string): Promise<OrderDetailView | null> {
  const row = await sql.get<ListRow>(
    `SELECT ${ORDER_COLUMNS} FROM orders o LEFT JOIN products p ON p.id = o.product_id WHERE o.id = ?`,
    [orderId],
  );
  if (!row) return null;
  const keys = await orderKeys(sql, orderId);
  const paymentRows = await sql.all<{
    event_id: string;
    amount: number;
    currency: string;
    source: PaymentSource;
    outcome: 'delivered' | 'needs_review' | 'ignored';
    received_at: number;
    trade_no: string | null;
    via: 'notify' | 'query' | null;
  }>(
    'SELECT event_id, amount, currency, source, outcome, received_at, trade_no, via FROM payments WHERE order_id = ? ORDER BY id',
    [orderId],
  );
  const payments = paymentRows.map((p) => ({
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
  const checkoutRows = await sql.all<{
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
  }>(
    `SELECT channel, method, state, amount, currency, created_at, expires_at, queries, last_query_at, last_query_status, next_query_at
     FROM checkouts WHERE order_id = ? ORDER BY id`,
    [orderId],
  );
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

  const ledger = await sql.all<Pick<LedgerRow, 'seq' | 'at' | 'kind' | 'key_ids' | 'detail'>>(
    'SELECT seq, at, kind, key_ids, detail FROM ledger WHERE order_id = ? ORDER BY seq',
    [orderId],
  );
  const timeline: (TimelineEntry & { ms: number; order: number })[] = ledger.map((entry) => {
    const detail = parseDetail(entry.detail);
    const orderTo = typeof detail.orderTo === 'string' ? (detail.orderTo as OrderState) : null;
    const actor = typeof detail.actor === 'string' ? detail.actor : null;
    return {
      source: 'ledger',
      at: iso(entry.at),
      ms: entry.at,
      order: 0,
      event: entry.kind,
      seq: entry.seq,
      orderTo,
      keyIds: decodeKeyIds(entry.key_ids),
      actor,
      detail,
    };
  });
  // Audit rows about the order itself or about one of its keys (a reveal names the key as `7` or `key:7`):
  // the keys orderKeys lists, as a subquery of text values both backends build alike.
  const audits = await sql.all<{ at: number; actor: string; action: string; subject: string; detail: string }>(
    `SELECT at, actor, action, subject, detail FROM audit WHERE subject IN (
       SELECT CAST(? AS TEXT)
       UNION ALL SELECT CAST(k.id AS TEXT) FROM keys k WHERE ${ORDER_KEY}
       UNION ALL SELECT 'key:' || CAST(k.id AS TEXT) FROM keys k WHERE ${ORDER_KEY}
     ) ORDER BY id`,
    [orderId, orderId, orderId, orderId, orderId],
  );
  for (const audit of audits) {
    const detail = parseDetail(audit.detail);
    const keyMatch = /^(?:key:)?(\d+)$/.exec(audit.subject);
    timeline.push({
      source: 'audit',
      at: iso(audit.at),
      ms: audit.at,
      order: 1,
      event: audit.action,
      seq: null,
      orderTo: null,
      keyIds: keyMatch ? [Number(keyMatch[1])] : [],
      actor: audit.actor,
      detail,
    });
  }
  // Oldest first; at the same instant the ledger entry (what happened) before the audit row (who did it).
  timeline.sort((a, b) => a.ms - b.ms || a.order - b.order);
  return {
    order: toItem(row),
    keys,
    payments,
    checkouts,
    timeline: timeline.map(({ ms: _ms, order: _order, ...item }) => item),
  };
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
export async function listLedger(
  sql: SqlReader,
  query: { beforeSeq?: number | undefined; orderId?: string | undefined; limit: number },
): Promise<{ entries: LedgerEntryView[]; head: number; nextBeforeSeq: number | null }> {
  const head = 'SELECT coalesce(max(seq), 0) FROM ledger';
  const before = query.beforeSeq ?? Number.MAX_SAFE_INTEGER;
  // One statement, so the head and the page agree while entries are appended.
  const rows =
    query.orderId === undefined
      ? await sql.all<LedgerRow & { head: number }>(
          `SELECT l.*, (${head}) AS head FROM ledger l WHERE l.seq < ? ORDER BY l.seq DESC LIMIT ?`,
          [before, query.limit + 1],
        )
      : await sql.all<LedgerRow & { head: number }>(
          `SELECT l.*, (${head}) AS head FROM ledger l WHERE l.seq < ? AND l.order_id = ? ORDER BY l.seq DESC LIMIT ?`,
          [before, query.orderId, query.limit + 1],
        );
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
  return {
    entries,
    head: rows[0] ? Number(rows[0].head) : firstNumber(await sql.get(head)),
    nextBeforeSeq: rows.length > query.limit && last ? last.seq : null,
  };
}
