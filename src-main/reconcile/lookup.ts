/**
 * Dispute lookup: find the orders and keys behind a buyer's complaint by order id, e-mail, payment id
 * (a webhook event or a statement row), or the code the buyer pastes in. A code is looked up by its
 * keyed HMAC fingerprint through the vault's fingerprint key, the way imports dedupe: nothing is
 * decrypted to search. The answer carries a timeline merged from the order row, the ledger, deliveries,
 * payments, statement rows, the audit trail and resolutions; for each key, every ledger entry that
 * ever moved it (including holds by other orders), which is its full history.
 *
 * One SQL text per read, run through a SqlReader (db/sql.ts) on either backend, with the same answer:
 * - every list has an ORDER BY that leaves no tie (a UNION's order ids sorted as bytes, `COLLATE "C"` on
 *   PostgreSQL as in engine/order-queries.ts), so rows and events come in the same order on both;
 * - the e-mail is matched exactly first, then case-folded with lower() on both sides (SQLite folds ASCII
 *   only; PostgreSQL folds every letter its collation knows, so non-ASCII capitals can match more there);
 * - a resolution names its order as the suffix `:<order id>` of its finding id, compared exactly with
 *   substr(), not LIKE (SQLite's LIKE ignores ASCII case and `_` is a wildcard, both wrong for ids);
 * - BIGINT columns arrive as numbers (pg/connect.ts), a fingerprint as a Buffer on both.
 * The reads must agree with each other: on PostgreSQL the caller runs `lookup` in one REPEATABLE READ
 * snapshot (pg/snapshot-read.ts); on SQLite they answer at once, one after another, and the engine's
 * writer commits on a later turn of the event loop (engine/writer.ts), never between them.
 */
import type { LookupResult, TimelineEvent } from '../../shared/reconcile';
import { byBytes, firstNumber, type SqlReader } from '../db/sql';
import { EngineError } from '../lib/errors';
import { fingerprint, type VaultKeys } from '../vault/crypto';
import { iso, type OrderRowLike } from './finding';

const MAX_ORDERS = 50;
const MAX_KEYS_WITH_HISTORY = 20;
const MAX_EVENTS = 5000;

interface KeyRow {
  id: number;
  product_id: string | null;
  status: string;
  order_id: string | null;
  fingerprint: Buffer;
}

interface LedgerRow {
  seq: number;
  at: number;
  kind: string;
  product_id: string;
  order_id: string | null;
  key_ids: string;
  detail: string;
}

const LEDGER_COLUMNS = 'seq, at, kind, product_id, order_id, key_ids, detail';
const ORDER_COLUMNS =
  'id, product_id, quantity, amount, currency, email, status, review_reason, created_at, expires_at, paid_at, delivered_at';

/** Whether an encoded key id list ("1-3,7,9-10") names `id`, without expanding the ranges. */
export function rangeContains(text: string, id: number): boolean {
  if (text === '') return false;
  for (const part of text.split(',')) {
    const dash = part.indexOf('-');
    const start = Number(dash < 0 ? part : part.slice(0, dash));
    const end = dash < 0 ? start : Number(part.slice(dash + 1));
    if (id >= start && id <= end) return true;
  }
  return false;
}

const column = async <T>(sql: SqlReader, text: string, params: readonly unknown[]): Promise<T[]> =>
  (await sql.all<Record<string, T>>(text, params)).map((row) => Object.values(row)[0] as T);

interface Found {
  matchedBy: LookupResult['matchedBy'];
  orderIds: string[];
  keyIds: number[];
}

async function ordersFor(sql: SqlReader, query: string, vault: VaultKeys): Promise<Found> {
  const byId = await sql.get<{ id: string }>('SELECT id FROM orders WHERE id = ?', [query]);
  if (byId) return { matchedBy: 'order', orderIds: [byId.id], keyIds: [] };
  if (query.includes('@')) {
    // Newest first; orders made in the same millisecond by id, as bytes.
    const newest = `ORDER BY created_at DESC, ${byBytes(sql, 'id')} DESC LIMIT ?`;
    let ids = await column<string>(sql, `SELECT id FROM orders WHERE email = ? ${newest}`, [query, MAX_ORDERS]);
    if (ids.length === 0)
      ids = await column<string>(sql, `SELECT id FROM orders WHERE lower(email) = lower(?) ${newest}`, [query, MAX_ORDERS]);
    if (ids.length > 0) return { matchedBy: 'email', orderIds: ids, keyIds: [] };
  }
  const byPayment = await column<string>(
    sql,
    `SELECT order_id FROM (
       SELECT order_id FROM payments WHERE event_id = ?
       UNION SELECT order_id FROM payments WHERE trade_no = ?
       UNION SELECT coalesce(l.order_id, r.order_id) FROM statement_rows r LEFT JOIN payment_links l ON l.payment_id = r.payment_id
         WHERE (r.payment_id = ? OR r.ref_payment_id = ?) AND coalesce(l.order_id, r.order_id) IS NOT NULL
     ) AS paid ORDER BY ${byBytes(sql, 'order_id')}`,
    [query, query, query, query],
  );
  const paymentSeen =
    firstNumber(
      await sql.get('SELECT count(*) AS n FROM statement_rows WHERE payment_id = ? OR ref_payment_id = ?', [query, query]),
    ) > 0;
  if (byPayment.length > 0 || paymentSeen) return { matchedBy: 'payment', orderIds: byPayment.slice(0, MAX_ORDERS), keyIds: [] };
  // A pasted code: its fingerprint under each product (the UNIQUE (product_no, fingerprint) index).
  const fp = fingerprint(vault.fingerprintKey, query);
  const keys = await sql.all<{ id: number; order_id: string | null }>(
    'SELECT id, order_id FROM keys WHERE product_no IN (SELECT no FROM products) AND fingerprint = ? ORDER BY id',
    [fp],
  );
  if (keys.length > 0) {
    const orderIds = new Set<string>();
    for (const k of keys) {
      if (k.order_id) orderIds.add(k.order_id);
      // Every order the key was ever delivered to, in the order of their first delivery.
      for (const o of await column<string>(
        sql,
        'SELECT order_id FROM deliveries WHERE key_id = ? GROUP BY order_id ORDER BY min(id)',
        [k.id],
      ))
        orderIds.add(o);
    }
    return { matchedBy: 'code', orderIds: [...orderIds].slice(0, MAX_ORDERS), keyIds: keys.map((k) => k.id) };
  }
  return { matchedBy: 'none', orderIds: [], keyIds: [] };
}

/** "ABCD-1234-WXYZ" -> "AB**********YZ". */
export function maskCode(code: string): string {
  if (code.length <= 4) return '*'.repeat(code.length);
  return `${code.slice(0, 2)}${'*'.repeat(code.length - 4)}${code.slice(-2)}`;
}

/** The timeline's events, each ledger entry once. */
class Timeline {
  readonly events: TimelineEvent[] = [];
  private readonly seenLedger = new Set<number>();

  has(seq: number): boolean {
    return this.seenLedger.has(seq);
  }

  ledger(e: LedgerRow): void {
    if (this.seenLedger.has(e.seq)) return;
    this.seenLedger.add(e.seq);
    this.events.push({
      at: iso(e.at)!,
      source: 'ledger',
      ref: `#${e.seq}`,
      orderId: e.order_id,
      what: e.kind,
      detail: { keys: e.key_ids, detail: e.detail },
    });
  }
}

/** An order's own events: the row, its ledger entries, deliveries, payments, statement rows, audit, resolutions. */
async function orderEvents(sql: SqlReader, o: OrderRowLike, timeline: Timeline): Promise<void> {
  const events = timeline.events;
  events.push({
    at: iso(o.created_at)!,
    source: 'order',
    ref: o.id,
    orderId: o.id,
    what: 'created',
    detail: { quantity: o.quantity, amount: o.amount, currency: o.currency, email: o.email, holdUntil: iso(o.expires_at) },
  });
  if (o.paid_at !== null)
    events.push({ at: iso(o.paid_at)!, source: 'order', ref: o.id, orderId: o.id, what: 'paid', detail: { status: o.status } });
  for (const e of await sql.all<LedgerRow>(`SELECT ${LEDGER_COLUMNS} FROM ledger WHERE order_id = ? ORDER BY seq`, [o.id]))
    timeline.ledger(e);
  const deliveries = await sql.all<{ id: number; key_id: number; delivered_at: number; returned_at: number | null }>(
    'SELECT id, key_id, delivered_at, returned_at FROM deliveries WHERE order_id = ? ORDER BY id',
    [o.id],
  );
  for (const d of deliveries) {
    const ref = `delivery ${d.id}`;
    events.push({
      at: iso(d.delivered_at)!,
      source: 'delivery',
      ref,
      orderId: o.id,
      what: 'delivered',
      detail: { key: d.key_id },
    });
    if (d.returned_at !== null)
      events.push({
        at: iso(d.returned_at)!,
        source: 'delivery',
        ref,
        orderId: o.id,
        what: 'taken back',
        detail: { key: d.key_id },
      });
  }
  const payments = await sql.all<{
    event_id: string;
    amount: number;
    currency: string;
    source: string;
    outcome: string;
    received_at: number;
  }>('SELECT event_id, amount, currency, source, outcome, received_at FROM payments WHERE order_id = ? ORDER BY id', [o.id]);
  for (const p of payments)
    events.push({
      at: iso(p.received_at)!,
      source: 'payment',
      ref: p.event_id,
      orderId: o.id,
      what: `payment (${p.outcome})`,
      detail: { amount: p.amount, currency: p.currency, via: p.source },
    });
  const statementRows = await sql.all<{
    payment_id: string;
    kind: string;
    amount: number;
    currency: string;
    at: number;
    statement_id: number;
  }>(
    `SELECT r.payment_id, r.kind, r.amount, r.currency, r.at, r.statement_id FROM statement_rows r
     WHERE r.order_id = ? OR r.payment_id IN (SELECT payment_id FROM payment_links WHERE order_id = ?) ORDER BY r.at, r.id`,
    [o.id, o.id],
  );
  for (const r of statementRows)
    events.push({
      at: iso(r.at)!,
      source: 'statement',
      ref: r.payment_id,
      orderId: o.id,
      what: `provider ${r.kind}`,
      detail: { amount: r.amount, currency: r.currency, statement: r.statement_id },
    });
  const audit = await sql.all<{ id: number; at: number; actor: string; action: string; detail: string }>(
    'SELECT id, at, actor, action, detail FROM audit WHERE subject = ? ORDER BY id',
    [o.id],
  );
  for (const a of audit)
    events.push({
      at: iso(a.at)!,
      source: 'audit',
      ref: `audit ${a.id}`,
      orderId: o.id,
      what: a.action,
      detail: { actor: a.actor, detail: a.detail },
    });
  // Finding ids are `<kind>:<subject>`: the order's findings end in `:<order id>`, compared exactly.
  const suffix = `:${o.id}`;
  const resolutions = await sql.all<{ finding_id: string; action: string; note: string; actor: string; resolved_at: number }>(
    `SELECT finding_id, action, note, actor, resolved_at FROM finding_resolutions
     WHERE length(finding_id) >= ? AND substr(finding_id, length(finding_id) - ? + 1) = ?
     ORDER BY resolved_at, ${byBytes(sql, 'finding_id')}`,
    [suffix.length, suffix.length, suffix],
  );
  for (const r of resolutions)
    events.push({
      at: iso(r.resolved_at)!,
      source: 'resolution',
      ref: r.finding_id,
      orderId: o.id,
      what: `resolved (${r.action})`,
      detail: { actor: r.actor, note: r.note },
    });
}

/**
 * Each key's full history: every ledger entry of its product that moved it, whichever order it was for,
 * in ledger order. A product's entries are scanned once (their key lists only), the matching ones read whole.
 */
async function keyHistory(sql: SqlReader, keys: readonly KeyRow[], timeline: Timeline): Promise<void> {
  const byProduct = new Map<string, number[]>();
  for (const k of keys.slice(0, MAX_KEYS_WITH_HISTORY)) {
    if (k.product_id === null) continue;
    const ids = byProduct.get(k.product_id) ?? [];
    ids.push(k.id);
    byProduct.set(k.product_id, ids);
  }
  const matched: number[] = [];
  for (const [productId, ids] of byProduct) {
    const entries = await sql.all<{ seq: number; key_ids: string }>(
      'SELECT seq, key_ids FROM ledger WHERE product_id = ? ORDER BY seq',
      [productId],
    );
    for (const e of entries) if (!timeline.has(e.seq) && ids.some((id) => rangeContains(e.key_ids, id))) matched.push(e.seq);
  }
  matched.sort((a, b) => a - b);
  for (const seq of matched) {
    const e = await sql.get<LedgerRow>(`SELECT ${LEDGER_COLUMNS} FROM ledger WHERE seq = ?`, [seq]);
    if (e) timeline.ledger(e);
  }
}

/**
 * Looks a dispute up through `sql` (either backend; on PostgreSQL inside one snapshot, see the top of
 * this file). `vault` gives the fingerprint key a pasted code is matched with.
 */
export async function lookup(sql: SqlReader, vault: VaultKeys, rawQuery: string): Promise<LookupResult> {
  const query = rawQuery.trim();
  if (query.length === 0 || query.length > 1000)
    throw new EngineError('validation_failed', 'look up an order id, an e-mail, a payment id or a code (1 to 1000 characters)');
  const found = await ordersFor(sql, query, vault);
  const orders: OrderRowLike[] = [];
  for (const id of found.orderIds) {
    const o = await sql.get<OrderRowLike>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [id]);
    if (o) orders.push(o);
  }
  const keyIds = new Set(found.keyIds);
  for (const o of orders) {
    for (const id of await column<number>(sql, 'SELECT id FROM keys WHERE order_id = ?', [o.id])) keyIds.add(id);
    for (const id of await column<number>(sql, 'SELECT key_id FROM deliveries WHERE order_id = ?', [o.id])) keyIds.add(id);
  }
  const keys: KeyRow[] = [];
  for (const id of [...keyIds].sort((a, b) => a - b)) {
    const k = await sql.get<KeyRow>(
      'SELECT k.id, p.id AS product_id, k.status, k.order_id, k.fingerprint FROM keys k LEFT JOIN products p ON p.no = k.product_no WHERE k.id = ?',
      [id],
    );
    if (k) keys.push(k);
  }

  const timeline = new Timeline();
  for (const o of orders) await orderEvents(sql, o, timeline);
  await keyHistory(sql, keys, timeline);
  // A stable sort: events of one millisecond keep the order they were read in.
  const events = timeline.events.sort((a, b) => a.at.localeCompare(b.at));
  return {
    // A code (or what may be one) is not echoed back whole: answers end up in screenshots and exports.
    query: found.matchedBy === 'code' || found.matchedBy === 'none' ? maskCode(query) : query,
    matchedBy: found.matchedBy,
    orders: orders.map((o) => ({
      id: o.id,
      status: o.status,
      productId: o.product_id,
      email: o.email,
      amount: o.amount,
      currency: o.currency,
      createdAt: iso(o.created_at)!,
      reviewReason: o.review_reason,
    })),
    keys: keys.map((k) => ({
      id: k.id,
      productId: k.product_id!,
      status: k.status,
      orderId: k.order_id,
      fingerprint: Buffer.from(k.fingerprint).toString('hex').slice(0, 16),
    })),
    timeline: events.slice(0, MAX_EVENTS),
  };
}
