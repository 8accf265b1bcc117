/** Handlers for shared/rpc/orders.ts: the Orders page's queries and audited support actions. */
import type { ordersMethods } from '../../../shared/rpc/orders';
import type { ShopBackend } from '../../engine/backend';
import { listOrders, orderDetail, type OrderListItem } from '../../engine/order-queries';
import type { OrderView } from '../../engine/orders';
import { markPaid, redeliver } from '../../engine/redeliver';
import { markPaidPg, redeliverPg } from '../../pg/redeliver';
import { readInSnapshot } from '../../pg/snapshot-read';
import { type Handlers, onBackend, RpcError } from '../dispatcher';

/** An order for the list, with its product's name. */
async function row(shop: ShopBackend, order: OrderView): Promise<OrderListItem> {
  return { ...order, productName: (await shop.getProduct(order.productId))?.name ?? null };
}

/** Tells live pages (Orders, Dashboard, Products) after the action committed. */
function changed(shop: ShopBackend, order: OrderView): Promise<OrderListItem> {
  shop.events.emit({ type: 'order', orderId: order.id, productId: order.productId, status: order.status });
  shop.events.emit({ type: 'stock', productId: order.productId });
  return row(shop, order);
}

export const ordersHandlers: Handlers<keyof typeof ordersMethods> = {
  'orders.list': (input, { shop }) => listOrders(shop.sql, input),
  'orders.get': async (input, ctx) => {
    // Several reads of one page: on PostgreSQL in one snapshot (SQLite's answer at once, one after another).
    const detail = await onBackend(ctx, {
      sqlite: () => orderDetail(ctx.shop.sql, input.id),
      postgres: (shop) => readInSnapshot(shop.pool, (sql) => orderDetail(sql, input.id)),
    });
    if (!detail) throw new RpcError('order_not_found', `no order ${input.id}`);
    return detail;
  },
  'orders.markPaid': async (input, ctx) => {
    const result = await onBackend(ctx, {
      sqlite: (engine) => engine.writer.run((db, now) => markPaid(db, { now }, input.id, ctx.actor)),
      // Not repeated after a lost connection: a first attempt that committed makes the order unpayable.
      postgres: (shop) => shop.write((client, now) => markPaidPg(client, now, input.id, ctx.actor), false),
    });
    if (!result.order || result.effect === 'unknown_order') throw new RpcError('order_not_found', `no order ${input.id}`);
    const order = await (result.effect === 'duplicate_event' ? row(ctx.shop, result.order) : changed(ctx.shop, result.order));
    return { order, effect: result.effect };
  },
  'orders.refund': async (input, { shop, actor }) => {
    const args = { orderId: input.id, keys: input.keys, reason: input.reason, actor };
    return { order: await row(shop, await (input.atGateway ? shop.payments.refund(args) : shop.refund(args))) };
  },
  'orders.requery': async (input, { shop, actor }) => {
    if (!(await shop.getOrder(input.id))) throw new RpcError('order_not_found', `no order ${input.id}`);
    const asked = await shop.payments.refresh(input.id, 'admin', actor);
    return { order: await row(shop, (await shop.getOrder(input.id))!), asked };
  },
  'orders.redeliver': async (input, ctx) => {
    const args = { orderId: input.id, replaceKeyIds: input.replaceKeyIds, reason: input.reason, actor: ctx.actor };
    const result = await onBackend(ctx, {
      sqlite: (engine) => engine.writer.run((db, now) => redeliver(db, { now }, args)),
      postgres: (shop) => shop.write((client, now) => redeliverPg(client, now, args), false),
    });
    return { order: await changed(ctx.shop, result.order), delivered: result.delivered, burned: result.burned };
  },
  'orders.release': async (input, { shop, actor }) => ({ order: await row(shop, await shop.releaseOrder(input.id, actor)) }),
};
