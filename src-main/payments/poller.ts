/**
 * Asking the channels about checkouts: the poller's rounds (due checkouts leased in the database, so
 * several `serve` processes never ask about one at once), the buyer's "I have paid" and the admin's
 * *Re-query*. A query runs after its claim committed; its answer is recorded, then applied like a
 * notification, in a transaction of its own.
 */
import type { ChannelName } from '../../shared/payments';
import type { OrderView } from '../engine/order-rows';
import { ChannelError, type PaymentChannel, type QueryResult } from './channel';
import type { CheckoutRow, QueryReason, QuerySchedule } from './records';
import type { PaymentStore } from './store';

/** What the queries need from the shop that owns the payment service. */
export interface QueryHost {
  readonly store: PaymentStore;
  readonly clock: () => number;
  /** A payment changed an order (live pages refresh). */
  orderChanged(order: OrderView): unknown;
}

export interface QueryOptions {
  /** How often the poller looks for due queries. */
  readonly tickMs?: number;
  /** Queries in flight at once. */
  readonly concurrency?: number;
  /** A buyer's "I have paid" asks a channel at most this often per checkout. */
  readonly refreshGapMs?: number;
  /** Where a failure nobody awaits is reported. */
  readonly onError?: (error: unknown) => void;
}

const QUERY_LEASE_MS = 60_000;
const CLAIM_BATCH = 32;

export class StatusPoller {
  private readonly querying = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly host: QueryHost,
    /** The channel by name, even when switched off (null when it is not configured). */
    private readonly channel: (name: ChannelName) => Promise<PaymentChannel | null>,
    private readonly schedule: QuerySchedule,
    private readonly options: QueryOptions,
  ) {}

  /**
   * Asks the channels about an order's checkouts now (the buyer's "I have paid", the admin's
   * *Re-query*, the buyer's browser coming back from the gateway). A checkout asked within the last
   * `refreshGapMs` is not asked again, unless an admin asks. Returns how many checkouts were asked.
   */
  async refresh(orderId: string, reason: Exclude<QueryReason, 'schedule'>, actor: string): Promise<number> {
    const gap = reason === 'admin' ? 0 : (this.options.refreshGapMs ?? 2_000);
    const now = this.host.clock();
    const rows = (await this.host.store.orderCheckouts(orderId)).filter(
      (row) => row.state !== 'paid' && (row.last_query_at === null || now - row.last_query_at >= gap),
    );
    await Promise.all(rows.map((row) => this.runQuery(row, reason, actor)));
    return rows.length;
  }

  /** One query of one checkout, applied like a notification when it finds a payment. */
  private runQuery(row: CheckoutRow, reason: QueryReason, actor: string): Promise<void> {
    let running = this.querying.get(row.id);
    if (!running) {
      running = this.query(row, reason, actor).finally(() => this.querying.delete(row.id));
      this.querying.set(row.id, running);
    }
    return running;
  }

  private async query(row: CheckoutRow, reason: QueryReason, actor: string): Promise<void> {
    const order = await this.host.store.getOrder(row.order_id);
    const channel = await this.channel(row.channel).catch(() => null);
    if (!order || (order.status !== 'reserved' && order.status !== 'expired') || !channel) {
      // Paid another way, refunded, or the channel was removed: nothing to wait for.
      if (row.state === 'open') await this.host.store.closeCheckout(row.id);
      return;
    }
    let result: QueryResult & { failed: boolean };
    try {
      const found = await channel.query({ id: row.order_id, reference: row.reference });
      if (found.payment && found.payment.orderId !== row.order_id)
        throw new ChannelError(`${row.channel} answered a query about ${row.order_id} with another order's payment`);
      result = { ...found, failed: false };
    } catch (error) {
      result = {
        state: 'unknown',
        payment: null,
        detail: `query failed: ${(error as Error).message}`.slice(0, 300),
        failed: true,
      };
    }
    // The answer is recorded before its effect, so the audit trail reads: asked, then applied.
    const paid = await this.host.store.applyQuery(row, result, reason, actor, this.schedule);
    if (paid?.order && paid.effect !== 'duplicate_event') this.host.orderChanged(paid.order);
  }

  /** Starts asking channels about due checkouts every `tickMs` (1 s). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.ticking ??= this.tick().finally(() => (this.ticking = null));
    }, this.options.tickMs ?? 1_000);
    this.timer.unref();
  }

  /** One round: claim the due checkouts, ask their channels (a few at a time), apply what they say. */
  async tick(): Promise<void> {
    try {
      // Most ticks find nothing due: a read through the index, never a write transaction (a commit each second).
      const soonest = await this.host.store.nextDueAt();
      if (soonest === null || soonest > this.host.clock()) return;
      const due = await this.host.store.claimDueQueries(CLAIM_BATCH, QUERY_LEASE_MS);
      const limit = this.options.concurrency ?? 4;
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(limit, due.length) }, async () => {
          while (next < due.length) await this.runQuery(due[next++]!, 'schedule', 'poller');
        }),
      );
    } catch (error) {
      (this.options.onError ?? (() => undefined))(error);
    }
  }

  /** Stops the timer and waits for the round in progress. */
  async halt(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** The queries in flight. */
  running(): Promise<void>[] {
    return [...this.querying.values()];
  }
}
