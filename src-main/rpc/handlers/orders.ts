/** Handlers for shared/rpc/orders.ts: the Orders page's queries and audited support actions. */
import type { ordersMethods } from '../../../shared/rpc/orders';
import type { Engine } from '../../engine/engine';
import { listOrders, orderDetail, type OrderListItem } from '../../engine/order-queries';
import type { OrderView } from '../../engine/orders';
import { markPaid, redeliver } from '../../engine/redeliver';
import { type Handlers, RpcError } from '../dispatcher';

/** An order for the list, with its product's name. */
function row(engine: Engine, order: OrderView): OrderListItem {
  return { ...order, productName: engine.getProduct(order.productId)?.name ?? null };
}

/** Tells live pages (Orders, Dashboard, Products) after the action committed. */
function changed(engine: Engine, order: OrderView): OrderListItem {
  engine.events.emit({ type: 'order', orderId: order.id, productId: order.productId, status: order.status });
  engine.events.emit({ type: 'stock', productId: order.productId });
  return row(engine, order);
}

export const ordersHandlers: Handlers<keyof typeof ordersMethods> = {
  'orders.list': (input, { engine }) => listOrders(engine.db, input),
  'orders.get': (input, { engine }) => {
    const detail = orderDetail(engine.db, input.id);
    if (!detail) throw new RpcError('order_not_found', `no order ${input.id}`);
    return detail;
  },
  'orders.markPaid': async (input, { engine, actor }) => {
    const result = await engine.writer.run((db, now) => markPaid(db, { now }, input.id, actor));
    if (!result.order || result.effect === 'unknown_order') throw new RpcError('order_not_found', `no order ${input.id}`);
    const order = result.effect === 'duplicate_event' ? row(engine, result.order) : changed(engine, result.order);
    return { order, effect: result.effect };
  },
  'orders.refund': async (input, { engine, actor }) => {
    const args = { orderId: input.id, keys: input.keys, reason: input.reason, actor };
    return { order: row(engine, await (input.atGateway ? engine.payments.refund(args) : engine.refund(args))) };
  },
  'orders.requery': async (input, { engine, actor }) => {
    if (!engine.getOrder(input.id)) throw new RpcError('order_not_found', `no order ${input.id}`);
    const asked = await engine.payments.refresh(input.id, 'admin', actor);
    return { order: row(engine, engine.getOrder(input.id)!), asked };
  },
  'orders.redeliver': async (input, { engine, actor }) => {
    const result = await engine.writer.run((db, now) =>
      redeliver(db, { now }, { orderId: input.id, replaceKeyIds: input.replaceKeyIds, reason: input.reason, actor }),
    );
    return { order: changed(engine, result.order), delivered: result.delivered, burned: result.burned };
  },
  'orders.release': async (input, { engine, actor }) => ({ order: row(engine, await engine.releaseOrder(input.id, actor)) }),
};
