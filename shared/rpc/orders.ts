/**
 * The Orders page's methods: find orders, read one with its keys (ids and states, never a code), its
 * payments and its life-cycle timeline (ledger entries and audit rows), and the support actions. Every
 * action is one transaction that also writes an audit row naming the caller.
 */
import { z } from 'zod';
import { AdminOrder, OrderStatus } from '../api';
import { ChannelName } from '../payments';
import { method } from './method';

const OrderId = z.string().min(1).max(100);
const Reason = z.string().trim().min(1, 'a reason is required').max(500);

/** An order in the admin list: the admin view plus its product's name. */
export const OrderRow = AdminOrder.extend({ productName: z.string().nullable() });
export type OrderRow = z.infer<typeof OrderRow>;

/** One key of an order: its id and state only; the code stays in the vault (reveal is a keys.* action). */
export const OrderKey = z.object({
  id: z.int(),
  /** `returned`: the key went back to stock (a refund that returned it); it no longer belongs to this order. */
  status: z.enum(['reserved', 'sold', 'burned', 'returned']),
  deliveredAt: z.iso.datetime().nullable(),
  /** Set when the delivery was taken back (refund, or replaced by a re-delivery). */
  returnedAt: z.iso.datetime().nullable(),
});
export type OrderKey = z.infer<typeof OrderKey>;

export const OrderPayment = z.object({
  eventId: z.string(),
  amount: z.int(),
  currency: z.string(),
  /** `webhook` (OnceKey's own format), `manual` (Mark paid) or the payment channel that took it. */
  source: z.enum(['webhook', 'manual', 'epay', 'alipay', 'wechatpay', 'stripe']),
  outcome: z.enum(['delivered', 'needs_review', 'ignored']),
  receivedAt: z.iso.datetime(),
  /** A channel payment: the gateway's trade number, and whether its notification or a status query found it. */
  tradeNo: z.string().nullable(),
  via: z.enum(['notify', 'query']).nullable(),
});
export type OrderPayment = z.infer<typeof OrderPayment>;

/** A payment the buyer started at a channel, and what the status queries have found. */
export const OrderCheckout = z.object({
  channel: ChannelName,
  method: z.string(),
  state: z.enum(['open', 'paid', 'closed']),
  amount: z.int(),
  currency: z.string(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  queries: z.int().min(0),
  lastQueryAt: z.iso.datetime().nullable(),
  lastQueryStatus: z.string().nullable(),
  nextQueryAt: z.iso.datetime().nullable(),
});
export type OrderCheckout = z.infer<typeof OrderCheckout>;

/** One step of an order's life: a ledger entry (stock or status moved) or an audit row (someone acted). */
export const TimelineItem = z.object({
  source: z.enum(['ledger', 'audit']),
  at: z.iso.datetime(),
  /** Ledger kind (`reserve`, `sell`, ...) or audit action (`order.mark_paid`, `key.reveal`, ...). */
  event: z.string(),
  /** Ledger sequence number, for ledger items. */
  seq: z.int().nullable(),
  /** The order status after this step, when it changed. */
  orderTo: OrderStatus.nullable(),
  keyIds: z.array(z.int()),
  actor: z.string().nullable(),
  /** The entry's own detail (payment event id, reason, ...); never a code. */
  detail: z.record(z.string(), z.unknown()),
});
export type TimelineItem = z.infer<typeof TimelineItem>;

export const OrderDetail = z.object({
  order: OrderRow,
  keys: z.array(OrderKey),
  payments: z.array(OrderPayment),
  checkouts: z.array(OrderCheckout),
  timeline: z.array(TimelineItem),
});
export type OrderDetail = z.infer<typeof OrderDetail>;

const OrderResult = z.object({ order: OrderRow });

export const ordersMethods = {
  'orders.list': method({
    summary: 'orders, newest first; q matches an order id prefix or an e-mail substring',
    writes: false,
    input: z.strictObject({
      q: z.string().trim().max(200).optional(),
      status: OrderStatus.optional(),
      productId: z.string().min(1).max(100).optional(),
      offset: z.int().min(0).default(0),
      limit: z.int().min(1).max(200).default(50),
    }),
    output: z.object({ orders: z.array(OrderRow), total: z.int().min(0) }),
  }),
  'orders.get': method({
    summary: 'one order with its keys (ids only), payments and life-cycle timeline',
    writes: false,
    input: z.strictObject({ id: OrderId }),
    output: OrderDetail,
  }),
  'orders.markPaid': method({
    summary: 'confirm a payment by hand (a test payment): the same effect as a valid webhook, audited',
    writes: true,
    input: z.strictObject({ id: OrderId }),
    output: OrderResult.extend({ effect: z.enum(['delivered', 'needs_review', 'duplicate_event']) }),
  }),
  'orders.refund': method({
    summary: 'refund a paid order; its delivered keys are burned or returned to stock',
    writes: true,
    input: z.strictObject({
      id: OrderId,
      keys: z.enum(['burn', 'return']),
      reason: Reason,
      /** Give the money back through the payment channel that took it first (the gateway must agree). */
      atGateway: z.boolean().default(false),
    }),
    output: OrderResult,
  }),
  'orders.requery': method({
    summary: "ask the order's payment channels about it now (Re-query); a payment found is applied like a notification",
    writes: true,
    input: z.strictObject({ id: OrderId }),
    output: OrderResult.extend({ asked: z.int().min(0) }),
  }),
  'orders.redeliver': method({
    summary:
      'deliver an order again: its held keys are sold to it, its delivered keys are shown to the buyer again, and each key in replaceKeyIds (a bad code) is burned and replaced by a fresh one',
    writes: true,
    input: z.strictObject({ id: OrderId, replaceKeyIds: z.array(z.int().min(1)).max(1000).default([]), reason: Reason }),
    output: OrderResult.extend({ delivered: z.array(z.int()), burned: z.array(z.int()) }),
  }),
  'orders.release': method({
    summary: "release an unpaid order's hold: its keys go back on sale and the order expires",
    writes: true,
    input: z.strictObject({ id: OrderId }),
    output: OrderResult,
  }),
} as const;
