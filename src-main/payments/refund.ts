/**
 * A refund that gives the buyer's money back through the channel that took it, then refunds the order
 * here (its codes burned or returned to stock, as the support agent chose). The gateway is asked first,
 * outside any transaction; only once it agreed does the order change, in one transaction with the audit
 * row that names the gateway's refund. Should that transaction fail after the gateway refunded, the
 * day's bill shows the refund and reconciliation reports it (`statement_refund_not_applied`).
 */
import type { ChannelName } from '../../shared/payments';
import { EngineError } from '../lib/errors';
import type { KeyDisposition, OrderView } from '../engine/orders';
import type { PaymentChannel } from './channel';
import type { AuditEntry } from './records';
import type { PaymentStore, RecordedRefund } from './store';

export interface GatewayRefund {
  readonly orderId: string;
  readonly keys: KeyDisposition;
  readonly reason: string;
  readonly actor: string;
}

/** The audit row written with the order's refund: which gateway refund gave the money back. */
export function refundAudit(r: RecordedRefund): AuditEntry {
  return {
    actor: r.actor,
    action: 'payment.refunded',
    subject: r.orderId,
    detail: {
      channel: r.payment.source,
      tradeNo: r.payment.trade_no,
      refundId: r.refundId,
      state: r.state,
      amount: r.payment.amount,
      currency: r.payment.currency,
    },
  };
}

export async function refundThroughChannel(
  store: PaymentStore,
  channelOf: (name: ChannelName) => Promise<PaymentChannel | null>,
  args: GatewayRefund,
): Promise<OrderView> {
  const order = await store.getOrder(args.orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${args.orderId}`);
  if (order.status !== 'delivered' && order.status !== 'paid' && order.status !== 'needs_review')
    throw new EngineError('order_not_refundable', `order ${args.orderId} is ${order.status}; only paid orders are refunded`);
  const payment = await store.channelPayment(args.orderId);
  if (!payment) throw new EngineError('order_not_refundable', 'no payment channel took this order’s money; refund it by hand');
  const channel = await channelOf(payment.source);
  if (!channel?.refund)
    throw new EngineError('channel_unavailable', `${payment.source} cannot refund from here; refund it in the gateway's console`);
  let done;
  try {
    done = await channel.refund({
      orderId: args.orderId,
      tradeNo: payment.trade_no,
      amount: payment.amount,
      currency: payment.currency,
      refundId: `refund-${args.orderId}`,
      reason: args.reason,
    });
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError(
      'channel_unavailable',
      `${payment.source} refused the refund: ${(error as Error).message}`.slice(0, 300),
    );
  }
  return store.recordRefund({ ...args, payment, refundId: done.refundId, state: done.state });
}
