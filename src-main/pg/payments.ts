/**
 * The payment channels' rows in PostgreSQL, for several servers sharing one shop: the same rows as
 * SQLite's (payment_channels, checkouts, the audit trail), what each write stores decided by the same
 * code (payments/records.ts, payments/config-store.ts). Every write is one transaction run by the shop's
 * `write` (retried after a conflict; after a lost connection only where running it again is harmless).
 *
 * Races between servers: a write that touches an order locks its row first (`FOR UPDATE`), then the
 * checkout's, as pg/order-writes.ts does, so two servers storing a checkout for one order keep one and no
 * two transactions wait in a circle; a due query is leased with `FOR UPDATE SKIP LOCKED`, so two pollers
 * never take the same checkout; a trade number is one payment event (`payPg`, UNIQUE event id).
 */
import type pg from 'pg';
import type { ChannelName } from '../../shared/payments';
import { toView, type OrderRow } from '../engine/order-rows';
import { EngineError } from '../lib/errors';
import type { GatewayPayment } from '../payments/channel';
import {
  channelSummaries,
  channelSummary,
  channelWrite,
  enabledAudit,
  notConfigured,
  removedAudit,
  storedChannel,
  type ChannelRow,
} from '../payments/config-store';
import {
  afterGatewayPayment,
  channelActor,
  CHECKOUT_COLUMNS,
  checkoutRefusal,
  gatewayPayArgs,
  newCheckout,
  notificationAudit,
  queryOutcome,
  type AuditEntry,
  type CheckoutRow,
} from '../payments/records';
import { refundAudit } from '../payments/refund';
import type { ChannelPaymentRow, PaymentStore } from '../payments/store';
import type { VaultKeys } from '../vault/crypto';
import type { Queryable } from './connect';
import { payPg, refundPg, writeAuditPg } from './order-writes';

/** The shop's write: one transaction, run again after a conflict (and, if `safeToRepeat`, a lost connection). */
export type PgWrite = <T>(fn: (client: pg.PoolClient, now: number) => Promise<T>, safeToRepeat: boolean) => Promise<T>;

const audit = async (client: Queryable, now: number, entry: AuditEntry | null): Promise<void> => {
  if (entry) await writeAuditPg(client, now, entry.actor, entry.action, entry.subject, entry.detail);
};

const one = async <R extends pg.QueryResultRow>(client: Queryable, sql: string, values: unknown[]): Promise<R | undefined> =>
  (await client.query<R>(sql, values)).rows[0];

/** PostgreSQL's text holds no NUL: no order or product has an id with one. */
const impossibleId = (id: string): boolean => id.includes('\0');

export function pgPaymentStore(
  pool: pg.Pool,
  write: PgWrite,
  vault: VaultKeys,
  /** The public address saved in the shop's settings, as the shop holds it now (the Settings page changes it). */
  savedPublicUrl: () => string,
): PaymentStore {
  const channelRow = (client: Queryable, name: ChannelName, lock = '') =>
    one<ChannelRow>(client, `SELECT * FROM payment_channels WHERE name = $1 ${lock}`, [name]);
  const findCheckout = (client: Queryable, orderId: string, channel: ChannelName) =>
    one<CheckoutRow>(client, 'SELECT * FROM checkouts WHERE order_id = $1 AND channel = $2', [orderId, channel]);
  const lockOrder = async (client: Queryable, orderId: string) => {
    const row = await one<OrderRow>(client, 'SELECT * FROM orders WHERE id = $1 FOR UPDATE', [orderId]);
    return row ? toView(row) : null;
  };

  /** A gateway payment's effect on its order, in the caller's transaction (the order's row locked by `payPg`). */
  const applyPayment = async (
    client: Queryable,
    now: number,
    channel: ChannelName,
    via: 'notify' | 'query',
    payment: GatewayPayment,
    actor: string,
  ) => {
    const result = await payPg(client, now, gatewayPayArgs(channel, via, payment));
    const after = afterGatewayPayment({ channel, via, payment, actor }, result);
    await audit(client, now, after.audit);
    if (after.checkoutPaid) {
      await client.query(`UPDATE checkouts SET state = 'paid', next_query_at = NULL WHERE order_id = $1 AND channel = $2`, [
        payment.orderId,
        channel,
      ]);
    }
    return result;
  };

  return {
    savedPublicUrl,

    async channelVersions() {
      const rows = (await pool.query<ChannelRow>('SELECT name, enabled, updated_at FROM payment_channels')).rows;
      return new Map(rows.map((r) => [r.name, { enabled: r.enabled === 1, updatedAt: r.updated_at }]));
    },
    async readChannel(name) {
      const r = await channelRow(pool, name);
      return r ? storedChannel(vault, { ...r, name }) : null;
    },
    async listChannels() {
      return channelSummaries(vault, (await pool.query<ChannelRow>('SELECT * FROM payment_channels')).rows);
    },
    writeChannel: (name, input, actor) =>
      write(async (client, now) => {
        const row = channelWrite(vault, name, input, await channelRow(client, name, 'FOR UPDATE'), actor);
        const saved = await one<ChannelRow>(
          client,
          `INSERT INTO payment_channels (name, enabled, settings, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, settings = excluded.settings, sealed = excluded.sealed,
             updated_at = GREATEST(excluded.updated_at, payment_channels.updated_at + 1)
           RETURNING *`,
          [name, row.enabled, row.settings, row.sealed, now],
        );
        await audit(client, now, row.audit);
        return channelSummary(vault, saved!);
      }, false),
    setChannelEnabled: (name, enabled, actor) =>
      write(async (client, now) => {
        const saved = await one<ChannelRow>(
          client,
          'UPDATE payment_channels SET enabled = $1, updated_at = GREATEST($2, updated_at + 1) WHERE name = $3 RETURNING *',
          [enabled ? 1 : 0, now, name],
        );
        if (!saved) throw notConfigured(name);
        await audit(client, now, enabledAudit(name, enabled, actor));
        return channelSummary(vault, saved);
      }, false),
    deleteChannel: (name, actor) =>
      write(async (client, now) => {
        const removed = (await client.query('DELETE FROM payment_channels WHERE name = $1', [name])).rowCount! > 0;
        if (removed) await audit(client, now, removedAudit(name, actor));
        return removed;
      }, false),

    async getOrder(orderId) {
      if (impossibleId(orderId)) return null;
      const row = await one<OrderRow>(pool, 'SELECT * FROM orders WHERE id = $1', [orderId]);
      return row ? toView(row) : null;
    },
    async productName(productId) {
      if (impossibleId(productId)) return null;
      return (await one<{ name: string }>(pool, 'SELECT name FROM products WHERE id = $1', [productId]))?.name ?? null;
    },

    findCheckout: (orderId, channel) =>
      impossibleId(orderId) ? Promise.resolve(undefined) : findCheckout(pool, orderId, channel),
    async orderCheckouts(orderId) {
      if (impossibleId(orderId)) return [];
      return (await pool.query<CheckoutRow>('SELECT * FROM checkouts WHERE order_id = $1 ORDER BY id', [orderId])).rows;
    },
    saveCheckout: (input, schedule) =>
      write(async (client, now) => {
        // The order first: a racing request (here or on another server) waits, then finds this checkout.
        const order = await lockOrder(client, input.orderId);
        const existing = await findCheckout(client, input.orderId, input.channel);
        if (existing) return existing;
        const refusal = checkoutRefusal(input.orderId, order);
        if (refusal) throw new EngineError(refusal.code, refusal.message);
        const made = newCheckout(input, now, schedule);
        const saved = await one<CheckoutRow>(
          client,
          `INSERT INTO checkouts (${CHECKOUT_COLUMNS}) VALUES (${made.values.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`,
          made.values,
        );
        await audit(client, now, made.audit);
        return saved!;
      }, true),
    async nextDueAt() {
      const row = await one<{ at: number | null }>(
        pool,
        'SELECT min(next_query_at) AS at FROM checkouts WHERE next_query_at IS NOT NULL',
        [],
      );
      return row?.at ?? null;
    },
    claimDueQueries: (limit, leaseMs) =>
      write(async (client, now) => {
        // Checkouts another server is leasing right now are skipped, not waited for.
        const leased = await client.query<CheckoutRow>(
          `WITH due AS (
             SELECT * FROM checkouts WHERE next_query_at <= $1 ORDER BY next_query_at LIMIT $2 FOR UPDATE SKIP LOCKED
           )
           UPDATE checkouts c SET next_query_at = $3 FROM due WHERE c.id = due.id RETURNING due.*`,
          [now, limit, now + leaseMs],
        );
        return leased.rows.sort((a, b) => a.next_query_at! - b.next_query_at! || a.id - b.id);
      }, true),
    async closeCheckout(checkoutId) {
      await write(
        (client) =>
          client.query(
            `UPDATE checkouts SET next_query_at = NULL, state = CASE state WHEN 'open' THEN 'closed' ELSE state END WHERE id = $1`,
            [checkoutId],
          ),
        true,
      );
    },

    applyNotification: (channel, orderId, { state, payment }) =>
      // Run again after a lost connection: the trade number is the payment's event, applied once.
      write(async (client, now) => {
        await audit(
          client,
          now,
          notificationAudit(channel, orderId, {
            state,
            ...(payment ? { tradeNo: payment.tradeNo, amount: payment.amount, currency: payment.currency } : {}),
          }),
        );
        return payment && state === 'paid' ? applyPayment(client, now, channel, 'notify', payment, channelActor(channel)) : null;
      }, true),
    applyQuery: (checkout, result, reason, actor, schedule) =>
      write(async (client, now) => {
        const order = await lockOrder(client, checkout.order_id);
        const current = await one<Pick<CheckoutRow, 'state' | 'queries' | 'last_query_status'>>(
          client,
          'SELECT state, queries, last_query_status FROM checkouts WHERE id = $1 FOR UPDATE',
          [checkout.id],
        );
        if (current) {
          const outcome = queryOutcome(checkout, current, order, result, reason, actor, schedule, now);
          await client.query(
            `UPDATE checkouts SET queries = queries + 1, last_query_at = $1, last_query_status = $2, next_query_at = $3, state = $4
             WHERE id = $5`,
            [now, outcome.status, outcome.next, outcome.state, checkout.id],
          );
          await audit(client, now, outcome.audit);
        }
        return result.state === 'paid' && result.payment
          ? applyPayment(client, now, checkout.channel, 'query', result.payment, actor)
          : null;
      }, true),

    channelPayment: (orderId) =>
      one<ChannelPaymentRow>(
        pool,
        `SELECT source, trade_no, amount, currency FROM payments
         WHERE order_id = $1 AND trade_no IS NOT NULL AND outcome = 'delivered' ORDER BY id DESC LIMIT 1`,
        [orderId],
      ),
    recordRefund: (r) =>
      write(async (client, now) => {
        await audit(client, now, refundAudit(r));
        return refundPg(client, now, r);
      }, false),
  };
}
