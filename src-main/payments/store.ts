/**
 * Where the payment channels keep their rows: the owner's channel settings (secrets sealed by the
 * vault), the checkouts and their query schedule, and the effects of what gateways report, each write
 * one transaction with its audit rows. Two implementations: the shop's SQLite file (store-sqlite.ts,
 * through the group-commit writer) and PostgreSQL (pg/payments.ts, several servers on one database).
 * What is written is decided once, in records.ts and config-store.ts; a store only runs the statements.
 *
 * Both answer the same races the same way: two servers storing a checkout for one order and channel
 * keep one; a due query is leased to one poller; a trade number takes effect once (the engine's `pay`).
 */
import type { ChannelName } from '../../shared/payments';
import type { PayResult } from '../engine/order-payment';
import type { KeyDisposition } from '../engine/order-release';
import type { OrderView } from '../engine/order-rows';
import type { GatewayPayment, GatewayState } from './channel';
import type { ChannelInput, ChannelSummary, ChannelVersion, StoredChannel } from './config-store';
import type { CheckoutRow, QueryFinding, QueryReason, QuerySchedule, SaveCheckout } from './records';

/** The payment a refund gives back: the channel's last delivered payment of the order. */
export interface ChannelPaymentRow {
  readonly source: ChannelName;
  readonly trade_no: string;
  readonly amount: number;
  readonly currency: string;
}

/** A refund the gateway agreed to, to apply to the order with its audit row. */
export interface RecordedRefund {
  readonly orderId: string;
  readonly keys: KeyDisposition;
  readonly reason: string;
  readonly actor: string;
  readonly payment: ChannelPaymentRow;
  readonly refundId: string;
  readonly state: string;
}

export interface PaymentStore {
  /** The shop's public address as the owner saved it in Settings ('' when none); read often, so synchronous. */
  savedPublicUrl(): string;

  // The owner's channel settings (config-store.ts).
  channelVersions(): Promise<Map<ChannelName, ChannelVersion>>;
  readChannel<C extends ChannelName>(name: C): Promise<StoredChannel<C> | null>;
  listChannels(): Promise<ChannelSummary[]>;
  writeChannel(name: ChannelName, input: ChannelInput, actor: string): Promise<ChannelSummary>;
  setChannelEnabled(name: ChannelName, enabled: boolean, actor: string): Promise<ChannelSummary>;
  deleteChannel(name: ChannelName, actor: string): Promise<boolean>;

  // What a checkout shows and is checked against.
  getOrder(orderId: string): Promise<OrderView | null>;
  productName(productId: string): Promise<string | null>;

  // Checkouts (records.ts).
  findCheckout(orderId: string, channel: ChannelName): Promise<CheckoutRow | undefined>;
  orderCheckouts(orderId: string): Promise<CheckoutRow[]>;
  /** Stores a checkout unless one for its order and channel exists (then returns that one). */
  saveCheckout(input: SaveCheckout, schedule: QuerySchedule): Promise<CheckoutRow>;
  /** When the next query of any checkout is due (null: none is scheduled). A read: no write. */
  nextDueAt(): Promise<number | null>;
  /**
   * Claims up to `limit` checkouts whose query is due: moves each one's next query `leaseMs` ahead in
   * this same write, so no other poller (another server of the shop) takes it meanwhile; the query's
   * result then sets the real next time. A poller that dies mid-query leaves the lease to expire.
   */
  claimDueQueries(limit: number, leaseMs: number): Promise<CheckoutRow[]>;
  /** Stops querying a checkout whose order no longer waits for a payment (paid another way, refunded, ...). */
  closeCheckout(checkoutId: number): Promise<void>;

  // What gateways report, each one transaction: recorded, then applied.
  /** A verified notification: recorded, and its payment (if paid) applied. */
  applyNotification(
    channel: ChannelName,
    orderId: string,
    detail: { state: GatewayState; payment: GatewayPayment | null },
  ): Promise<PayResult | null>;
  /** A status query's answer: counted on the checkout, and its payment (if paid) applied. */
  applyQuery(
    checkout: CheckoutRow,
    result: QueryFinding & { payment: GatewayPayment | null },
    reason: QueryReason,
    actor: string,
    schedule: QuerySchedule,
  ): Promise<PayResult | null>;

  // Refunds through the channel (refund.ts).
  channelPayment(orderId: string): Promise<ChannelPaymentRow | undefined>;
  recordRefund(refund: RecordedRefund): Promise<OrderView>;
}
