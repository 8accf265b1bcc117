/**
 * A refund that gives the buyer's money back through the channel that took it, then refunds the order
 * here (its codes burned or returned to stock, as the support agent chose). The gateway is asked first,
 * outside any transaction; only once it agreed does the order change, in one transaction with the audit
 * row that names the gateway's refund. Should that transaction fail after the gateway refunded, the
 * day's bill shows the refund and reconciliation reports it (`statement_refund_not_applied`).
 */
import type { ChannelName } from '../../shared/payments';
import { stmt } from '../db/statements';
import { writeAudit } from '../db/audit';
import { EngineError } from '../lib/errors';
import { getOrder, refund, type KeyDisposition, type OrderView } from '../engine/orders';
import type { PaymentChannel } from './channel';
import type { PaymentHost } from './service';

export interface GatewayRefund {
  readonly orderId: string;
  readonly keys: KeyDisposition;
  readonly reason: string;
  readonly actor: string;
}

interface ChannelPaymentRow {
  readonly source: ChannelName;
  readonly trade_no: string;
  readonly amount: number;
  readonly currency: string;
}

export async function refundThroughChannel(
  host: PaymentHost,
  channelOf: (name: ChannelName) => Promise<PaymentChannel | null>,
  args: GatewayRefund,
): Promise<OrderView> {
  const order = getOrder(host.db, args.orderId);
  if (!order) throw new EngineError('order_not_found', `no order ${args.orderId}`);
  if (order.status !== 'delivered' && order.status !== 'paid' && order.status !== 'needs_review')
    throw new EngineError('order_not_refundable', `order ${args.orderId} is ${order.status}; only paid orders are refunded`);
  const payment = stmt(
    host.db,
    `SELECT source, trade_no, amount, currency FROM payments
     WHERE order_id = ? AND trade_no IS NOT NULL AND outcome = 'delivered' ORDER BY id DESC LIMIT 1`,
  ).get(args.orderId) as ChannelPaymentRow | undefined;
  if (!payment) throw new EngineError('order_not_refundable', 'no payment channel took this order’s money; refund it by hand');
  const channel = await channelOf(payment.source);
  if (!channel?.refund)
    throw new EngineError('channel_unavailable', `${payment.source} cannot refund from here; refund it in the gateway's console`);
  const refundId = `refund-${args.orderId}`;
  let done;
  try {
    done = await channel.refund({
      orderId: args.orderId,
      tradeNo: payment.trade_no,
      amount: payment.amount,
      currency: payment.currency,
      refundId,
      reason: args.reason,
    });
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError(
      'channel_unavailable',
      `${payment.source} refused the refund: ${(error as Error).message}`.slice(0, 300),
    );
  }
  return host.writer.run((db, now) => {
    writeAudit(db, now, args.actor, 'payment.refunded', args.orderId, {
      channel: payment.source,
      tradeNo: payment.trade_no,
      refundId: done.refundId,
      state: done.state,
      amount: payment.amount,
      currency: payment.currency,
    });
    return refund(db, { now }, args);
  });
}
