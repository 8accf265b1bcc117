/**
 * Dispute lookup: find the orders and keys behind a buyer's complaint by order id, e-mail, payment id
 * (a webhook event or a statement row), or the code the buyer pastes in. A code is looked up by its
 * keyed HMAC fingerprint through the vault's fingerprint key, the way imports dedupe: nothing is
 * decrypted to search. The answer carries a timeline merged from the order row, the ledger, deliveries,
 * payments, statement rows, the audit trail and resolutions; for each key, every ledger entry that
 * ever moved it (including holds by other orders), which is its full history.
 */
import type { LookupResult, TimelineEvent } from '../../shared/reconcile';
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { fingerprint, type VaultKeys } from '../vault/crypto';
import { iso, type OrderRowLike } from './finding';

const MAX_ORDERS = 50;
const MAX_KEYS_WITH_HISTORY = 20;
const MAX_EVENTS = 5000;

interface KeyRow {
  id: number;
  product_id: string;
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

function ordersFor(
  db: ReadableDB,
  query: string,
  vault: VaultKeys,
): { matchedBy: LookupResult['matchedBy']; orderIds: string[]; keyIds: number[] } {
  const byId = stmt(db, 'SELECT id FROM orders WHERE id = ?').pluck().get(query) as string | undefined;
  if (byId) return { matchedBy: 'order', orderIds: [byId], keyIds: [] };
  if (query.includes('@')) {
    let ids = stmt(db, 'SELECT id FROM orders WHERE email = ? ORDER BY created_at DESC LIMIT ?')
      .pluck()
      .all(query, MAX_ORDERS) as string[];
    if (ids.length === 0) {
      ids = stmt(db, 'SELECT id FROM orders WHERE lower(email) = lower(?) ORDER BY created_at DESC LIMIT ?')
        .pluck()
        .all(query, MAX_ORDERS) as string[];
    }
    if (ids.length > 0) return { matchedBy: 'email', orderIds: ids, keyIds: [] };
  }
  const byPayment = stmt(
    db,
    `SELECT order_id FROM payments WHERE event_id = @q
     UNION SELECT order_id FROM payments WHERE trade_no = @q
     UNION SELECT coalesce(l.order_id, r.order_id) FROM statement_rows r LEFT JOIN payment_links l ON l.payment_id = r.payment_id
       WHERE (r.payment_id = @q OR r.ref_payment_id = @q) AND coalesce(l.order_id, r.order_id) IS NOT NULL`,
  )
    .pluck()
    .all({ q: query }) as string[];
  const paymentSeen =
    (stmt(db, 'SELECT count(*) FROM statement_rows WHERE payment_id = ? OR ref_payment_id = ?')
      .pluck()
      .get(query, query) as number) > 0;
  if (byPayment.length > 0 || paymentSeen) return { matchedBy: 'payment', orderIds: byPayment.slice(0, MAX_ORDERS), keyIds: [] };
  // A pasted code: its fingerprint under each product (the UNIQUE (product_no, fingerprint) index).
  const fp = fingerprint(vault.fingerprintKey, query);
  const keys = stmt(db, 'SELECT id, order_id FROM keys WHERE product_no IN (SELECT no FROM products) AND fingerprint = ?').all(
    fp,
  ) as {
    id: number;
    order_id: string | null;
  }[];
  if (keys.length > 0) {
    const orderIds = new Set<string>();
    for (const k of keys) {
      if (k.order_id) orderIds.add(k.order_id);
      for (const o of stmt(db, 'SELECT DISTINCT order_id FROM deliveries WHERE key_id = ?').pluck().all(k.id) as string[])
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

export function lookup(db: ReadableDB, vault: VaultKeys, rawQuery: string): LookupResult {
  const query = rawQuery.trim();
  if (query.length === 0 || query.length > 1000)
    throw new EngineError('validation_failed', 'look up an order id, an e-mail, a payment id or a code (1 to 1000 characters)');
  return db.transaction((): LookupResult => {
    const found = ordersFor(db, query, vault);
    const orders = found.orderIds
      .map((id) => stmt(db, 'SELECT * FROM orders WHERE id = ?').get(id) as OrderRowLike | undefined)
      .filter((o): o is OrderRowLike => !!o);
    const keyIds = new Set(found.keyIds);
    for (const o of orders) {
      for (const id of stmt(db, 'SELECT id FROM keys WHERE order_id = ?').pluck().all(o.id) as number[]) keyIds.add(id);
      for (const id of stmt(db, 'SELECT key_id FROM deliveries WHERE order_id = ?').pluck().all(o.id) as number[]) keyIds.add(id);
    }
    const keys = [...keyIds]
      .sort((a, b) => a - b)
      .map(
        (id) =>
          stmt(
            db,
            'SELECT k.id, p.id AS product_id, k.status, k.order_id, k.fingerprint FROM keys k LEFT JOIN products p ON p.no = k.product_no WHERE k.id = ?',
          ).get(id) as KeyRow | undefined,
      )
      .filter((k): k is KeyRow => !!k);

    const events: TimelineEvent[] = [];
    const seenLedger = new Set<number>();
    const ledgerEvent = (e: LedgerRow): void => {
      if (seenLedger.has(e.seq)) return;
      seenLedger.add(e.seq);
      events.push({
        at: iso(e.at)!,
        source: 'ledger',
        ref: `#${e.seq}`,
        orderId: e.order_id,
        what: e.kind,
        detail: { keys: e.key_ids, detail: e.detail },
      });
    };
    for (const o of orders) {
      events.push({
        at: iso(o.created_at)!,
        source: 'order',
        ref: o.id,
        orderId: o.id,
        what: 'created',
        detail: { quantity: o.quantity, amount: o.amount, currency: o.currency, email: o.email, holdUntil: iso(o.expires_at) },
      });
      if (o.paid_at !== null)
        events.push({
          at: iso(o.paid_at)!,
          source: 'order',
          ref: o.id,
          orderId: o.id,
          what: 'paid',
          detail: { status: o.status },
        });
      for (const e of stmt(
        db,
        'SELECT seq, at, kind, product_id, order_id, key_ids, detail FROM ledger WHERE order_id = ? ORDER BY seq',
      ).all(o.id) as LedgerRow[])
        ledgerEvent(e);
      for (const d of stmt(db, 'SELECT id, key_id, delivered_at, returned_at FROM deliveries WHERE order_id = ? ORDER BY id').all(
        o.id,
      ) as {
        id: number;
        key_id: number;
        delivered_at: number;
        returned_at: number | null;
      }[]) {
        events.push({
          at: iso(d.delivered_at)!,
          source: 'delivery',
          ref: `delivery ${d.id}`,
          orderId: o.id,
          what: 'delivered',
          detail: { key: d.key_id },
        });
        if (d.returned_at !== null)
          events.push({
            at: iso(d.returned_at)!,
            source: 'delivery',
            ref: `delivery ${d.id}`,
            orderId: o.id,
            what: 'taken back',
            detail: { key: d.key_id },
          });
      }
      for (const p of stmt(
        db,
        'SELECT event_id, amount, currency, source, outcome, received_at FROM payments WHERE order_id = ? ORDER BY id',
      ).all(o.id) as {
        event_id: string;
        amount: number;
        currency: string;
        source: string;
        outcome: string;
        received_at: number;
      }[]) {
        events.push({
          at: iso(p.received_at)!,
          source: 'payment',
          ref: p.event_id,
          orderId: o.id,
          what: `payment (${p.outcome})`,
          detail: { amount: p.amount, currency: p.currency, via: p.source },
        });
      }
      for (const r of stmt(
        db,
        `SELECT r.payment_id, r.kind, r.amount, r.currency, r.at, r.statement_id FROM statement_rows r
         WHERE r.order_id = @o OR r.payment_id IN (SELECT payment_id FROM payment_links WHERE order_id = @o) ORDER BY r.at`,
      ).all({ o: o.id }) as {
        payment_id: string;
        kind: string;
        amount: number;
        currency: string;
        at: number;
        statement_id: number;
      }[]) {
        events.push({
          at: iso(r.at)!,
          source: 'statement',
          ref: r.payment_id,
          orderId: o.id,
          what: `provider ${r.kind}`,
          detail: { amount: r.amount, currency: r.currency, statement: r.statement_id },
        });
      }
      for (const a of stmt(db, 'SELECT id, at, actor, action, detail FROM audit WHERE subject = ? ORDER BY id').all(o.id) as {
        id: number;
        at: number;
        actor: string;
        action: string;
        detail: string;
      }[]) {
        events.push({
          at: iso(a.at)!,
          source: 'audit',
          ref: `audit ${a.id}`,
          orderId: o.id,
          what: a.action,
          detail: { actor: a.actor, detail: a.detail },
        });
      }
      for (const r of stmt(
        db,
        `SELECT finding_id, action, note, actor, resolved_at FROM finding_resolutions WHERE finding_id LIKE '%:' || ?`,
      ).all(o.id) as {
        finding_id: string;
        action: string;
        note: string;
        actor: string;
        resolved_at: number;
      }[]) {
        events.push({
          at: iso(r.resolved_at)!,
          source: 'resolution',
          ref: r.finding_id,
          orderId: o.id,
          what: `resolved (${r.action})`,
          detail: { actor: r.actor, note: r.note },
        });
      }
    }
    // Each key's full history: every ledger entry of its product that moved it, whichever order it was for.
    for (const k of keys.slice(0, MAX_KEYS_WITH_HISTORY)) {
      for (const e of stmt(
        db,
        'SELECT seq, at, kind, product_id, order_id, key_ids, detail FROM ledger WHERE product_id = ? ORDER BY seq',
      ).iterate(k.product_id) as IterableIterator<LedgerRow>) {
        if (rangeContains(e.key_ids, k.id)) ledgerEvent(e);
      }
    }
    events.sort((a, b) => a.at.localeCompare(b.at));
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
        productId: k.product_id,
        status: k.status,
        orderId: k.order_id,
        fingerprint: Buffer.from(k.fingerprint).toString('hex').slice(0, 16),
      })),
      timeline: events.slice(0, MAX_EVENTS),
    };
  })();
}
