/**
 * The order life cycle, as synchronous functions that must run inside one IMMEDIATE write transaction
 * (the writer in writer.ts provides it). Taking the write lock first and only then reading is what makes
 * "read stock = 1, then sell" safe: no other connection can read-then-write in between.
 *
 * reserved --pay--> delivered --refund--> refunded
 *    |  \--expire/release--> expired --late pay, keys free--> delivered
 *    \-- anything doubtful --> needs_review (with a reason; reconciliation lists it)
 *
 * One module per step, re-exported here as the engine's order API: order-rows.ts (the row, its view and
 * the buyer's reads), order-reserve.ts (holding keys for new orders), order-idempotency.ts (the records
 * that make a retried reservation get the first answer), order-payment.ts (payment and delivery) and
 * order-release.ts (expired and released holds, refunds).
 */
export {
  deliveredCodes,
  getOrder,
  getOrderWithToken,
  type CreatedOrder,
  type Ctx,
  type OrderStatus,
  type OrderView,
} from './order-rows';
export { checkIdempotencyKey, type StoredOutcome } from './order-idempotency';
export {
  checkReserveArgs,
  finishReserve,
  liveOrdersFor,
  MAX_QUANTITY,
  prepareReserve,
  reserve,
  reserveMany,
  type ReserveArgs,
  type ReserveOutcome,
  type ReserveRequest,
  type ReserveResult,
  type ReserveTicket,
  type ReserveWrite,
  type ReserveWriteTicket,
} from './order-reserve';
export { pay, sellKeys, type PayArgs, type PaymentSource, type PayResult, type ReviewReason } from './order-payment';
export { refund, releaseOrder, sweepExpired, type KeyDisposition } from './order-release';
