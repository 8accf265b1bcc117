/**
 * The payment channels' rows in the shop's SQLite file: reads on the engine's connection, every write
 * one IMMEDIATE transaction through the group-commit writer (with the engine's own `pay` and `refund`).
 * What each write stores is decided in records.ts and config-store.ts, shared with PostgreSQL's store.
 */
import type { ChannelName } from '../../shared/payments';
import { writeAudit } from '../db/audit';
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';
import { pay } from '../engine/order-payment';
import { refund } from '../engine/order-release';
import { getOrder } from '../engine/order-rows';
import { getProduct } from '../engine/products';
import { readSettings } from '../engine/settings';
import type { GroupCommitWriter } from '../engine/writer';
import { EngineError } from '../lib/errors';
import type { VaultKeys } from '../vault/crypto';
import type { GatewayPayment } from './channel';
import {
  channelSummaries,
  channelSummary,
  channelWrite,
  enabledAudit,
  notConfigured,
  removedAudit,
  storedChannel,
  type ChannelRow,
} from './config-store';
import {
  afterGatewayPayment,
  CHECKOUT_COLUMNS,
  checkoutRefusal,
  gatewayPayArgs,
  newCheckout,
  notificationAudit,
  queryOutcome,
  type AuditEntry,
  type CheckoutRow,
} from './records';
import { refundAudit } from './refund';
import type { ChannelPaymentRow, PaymentStore } from './store';

const audit = (db: WritableDB, now: number, entry: AuditEntry | null): void => {
  if (entry) writeAudit(db, now, entry.actor, entry.action, entry.subject, entry.detail);
};

export function sqlitePaymentStore(db: WritableDB, writer: GroupCommitWriter, vault: VaultKeys): PaymentStore {
  const channelRow = (name: ChannelName) =>
    stmt(db, 'SELECT * FROM payment_channels WHERE name = ?').get(name) as ChannelRow | undefined;
  const findCheckout = (orderId: string, channel: ChannelName) =>
    stmt(db, 'SELECT * FROM checkouts WHERE order_id = ? AND channel = ?').get(orderId, channel) as CheckoutRow | undefined;

  /** A gateway payment's effect on its order, in the caller's transaction. */
  const applyPayment = (now: number, channel: ChannelName, via: 'notify' | 'query', payment: GatewayPayment, actor: string) => {
    const input = { channel, via, payment, actor };
    const result = pay(db, { now }, gatewayPayArgs(channel, via, payment));
    const after = afterGatewayPayment(input, result);
    audit(db, now, after.audit);
    if (after.checkoutPaid) {
      stmt(db, `UPDATE checkouts SET state = 'paid', next_query_at = NULL WHERE order_id = ? AND channel = ?`).run(
        payment.orderId,
        channel,
      );
    }
    return result;
  };

  return {
    savedPublicUrl: () => readSettings(db).publicUrl,

    async channelVersions() {
      const rows = stmt(db, 'SELECT name, enabled, updated_at FROM payment_channels').all() as ChannelRow[];
      return new Map(rows.map((r) => [r.name, { enabled: r.enabled === 1, updatedAt: r.updated_at }]));
    },
    async readChannel(name) {
      const r = channelRow(name);
      return r ? storedChannel(vault, { ...r, name }) : null;
    },
    async listChannels() {
      return channelSummaries(vault, stmt(db, 'SELECT * FROM payment_channels').all() as ChannelRow[]);
    },
    writeChannel: (name, input, actor) =>
      writer.run((_db, now) => {
        const row = channelWrite(vault, name, input, channelRow(name), actor);
        stmt(
          db,
          `INSERT INTO payment_channels (name, enabled, settings, sealed, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, settings = excluded.settings, sealed = excluded.sealed,
             updated_at = max(excluded.updated_at, payment_channels.updated_at + 1)`,
        ).run(name, row.enabled, row.settings, row.sealed, now);
        audit(db, now, row.audit);
        return channelSummary(vault, channelRow(name)!);
      }),
    setChannelEnabled: (name, enabled, actor) =>
      writer.run((_db, now) => {
        const changed = stmt(
          db,
          'UPDATE payment_channels SET enabled = ?, updated_at = max(?, updated_at + 1) WHERE name = ?',
        ).run(enabled ? 1 : 0, now, name).changes;
        if (changed === 0) throw notConfigured(name);
        audit(db, now, enabledAudit(name, enabled, actor));
        return channelSummary(vault, channelRow(name)!);
      }),
    deleteChannel: (name, actor) =>
      writer.run((_db, now) => {
        const removed = stmt(db, 'DELETE FROM payment_channels WHERE name = ?').run(name).changes > 0;
        if (removed) audit(db, now, removedAudit(name, actor));
        return removed;
      }),

    getOrder: async (orderId) => getOrder(db, orderId),
    productName: async (productId) => getProduct(db, productId)?.name ?? null,

    findCheckout: async (orderId, channel) => findCheckout(orderId, channel),
    orderCheckouts: async (orderId) =>
      stmt(db, 'SELECT * FROM checkouts WHERE order_id = ? ORDER BY id').all(orderId) as CheckoutRow[],
    saveCheckout: (input, schedule) =>
      writer.run((_db, now) => {
        const existing = findCheckout(input.orderId, input.channel);
        if (existing) return existing;
        const refusal = checkoutRefusal(input.orderId, getOrder(db, input.orderId));
        if (refusal) throw new EngineError(refusal.code, refusal.message);
        const made = newCheckout(input, now, schedule);
        stmt(db, `INSERT INTO checkouts (${CHECKOUT_COLUMNS}) VALUES (${made.values.map(() => '?').join(', ')})`).run(
          ...made.values,
        );
        audit(db, now, made.audit);
        return findCheckout(input.orderId, input.channel)!;
      }),
    nextDueAt: async () =>
      (stmt(db, 'SELECT min(next_query_at) FROM checkouts WHERE next_query_at IS NOT NULL').pluck().get() as number | null) ??
      null,
    claimDueQueries: (limit, leaseMs) =>
      writer.run((_db, now) => {
        const due = stmt(db, 'SELECT * FROM checkouts WHERE next_query_at <= ? ORDER BY next_query_at LIMIT ?').all(
          now,
          limit,
        ) as CheckoutRow[];
        const lease = stmt(db, 'UPDATE checkouts SET next_query_at = ? WHERE id = ?');
        for (const row of due) lease.run(now + leaseMs, row.id);
        return due;
      }),
    closeCheckout: async (checkoutId) => {
      await writer.run(() => {
        stmt(
          db,
          `UPDATE checkouts SET next_query_at = NULL, state = CASE state WHEN 'open' THEN 'closed' ELSE state END WHERE id = ?`,
        ).run(checkoutId);
      });
    },

    applyNotification: (channel, orderId, { state, payment }) =>
      writer.run((_db, now) => {
        audit(
          db,
          now,
          notificationAudit(channel, orderId, {
            state,
            ...(payment ? { tradeNo: payment.tradeNo, amount: payment.amount, currency: payment.currency } : {}),
          }),
        );
        return payment && state === 'paid' ? applyPayment(now, channel, 'notify', payment, `gateway:${channel}`) : null;
      }),
    applyQuery: (checkout, result, reason, actor, schedule) =>
      writer.run((_db, now) => {
        const current = stmt(db, 'SELECT state, queries, last_query_status FROM checkouts WHERE id = ?').get(checkout.id) as
          Pick<CheckoutRow, 'state' | 'queries' | 'last_query_status'> | undefined;
        if (current) {
          const outcome = queryOutcome(checkout, current, getOrder(db, checkout.order_id), result, reason, actor, schedule, now);
          stmt(
            db,
            `UPDATE checkouts SET queries = queries + 1, last_query_at = ?, last_query_status = ?, next_query_at = ?, state = ?
             WHERE id = ?`,
          ).run(now, outcome.status, outcome.next, outcome.state, checkout.id);
          audit(db, now, outcome.audit);
        }
        return result.state === 'paid' && result.payment
          ? applyPayment(now, checkout.channel, 'query', result.payment, actor)
          : null;
      }),

    channelPayment: async (orderId) =>
      stmt(
        db,
        `SELECT source, trade_no, amount, currency FROM payments
         WHERE order_id = ? AND trade_no IS NOT NULL AND outcome = 'delivered' ORDER BY id DESC LIMIT 1`,
      ).get(orderId) as ChannelPaymentRow | undefined,
    recordRefund: (r) =>
      writer.run((_db, now) => {
        audit(db, now, refundAudit(r));
        return refund(db, { now }, r);
      }),
  };
}
