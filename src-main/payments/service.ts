/**
 * The shop's payment channels at run time: the channels built from their stored settings, checkouts for
 * buyers, notifications from gateways, and the poller that asks each channel about the checkouts still
 * waiting, so that a paid buyer gets the code even when the notification never arrives (a shop on a PC
 * behind NAT may get none at all).
 *
 * Network calls to a gateway never happen inside a write transaction: the checkout is made first and
 * then stored (a racing request's stored checkout wins); a query runs after its claim committed and its
 * result is applied in a transaction of its own.
 */
import { isLocalHost } from '../../shared/rpc/settings';
import type { ChannelSelfCheck } from '../../shared/payments';
import { CHANNEL_NAMES, type Checkout, type ChannelName, type PublicChannel } from '../../shared/payments';
import type { WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { getOrder, type OrderView } from '../engine/orders';
import { getProduct } from '../engine/products';
import { readSettings } from '../engine/settings';
import type { GroupCommitWriter } from '../engine/writer';
import type { VaultKeys } from '../vault/crypto';
import { ChannelError, type IncomingNotification, type NotifyAnswer, type PaymentChannel, type QueryResult } from './channel';
import {
  channelVersions,
  deleteChannel,
  listChannels,
  readChannel,
  setChannelEnabled,
  writeChannel,
  type ChannelInput,
  type ChannelSummary,
} from './config-store';
import {
  applyGatewayPayment,
  claimDueQueries,
  closeCheckout,
  DEFAULT_SCHEDULE,
  findCheckout,
  nextDueAt,
  orderCheckouts,
  recordNotification,
  recordQuery,
  saveCheckout,
  type CheckoutRow,
  type QueryReason,
  type QuerySchedule,
} from './records';
import { refundThroughChannel, type GatewayRefund } from './refund';
import { createChannel } from './registry';

/** What the service needs from the engine that owns it. */
export interface PaymentHost {
  readonly db: WritableDB;
  readonly vault: VaultKeys;
  readonly writer: GroupCommitWriter;
  readonly clock: () => number;
  /** A payment changed an order (live pages refresh). */
  orderChanged(order: OrderView): unknown;
}

export interface PaymentOptions {
  readonly schedule?: Partial<QuerySchedule>;
  readonly fetch?: typeof fetch;
  /** Per request to a gateway. */
  readonly timeoutMs?: number;
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

/** The listing an admin sees: the stored summary plus the address to give the gateway. */
export interface ChannelView extends ChannelSummary {
  readonly notifyUrl: string;
}

export class PaymentService {
  /** The address the endpoint listens on (set when it starts): the notify URL's base when none is set. */
  listenUrl: string | null = null;
  /** `serve --public-url`: wins over the saved setting for this run. */
  publicUrl: string | null = null;
  readonly schedule: QuerySchedule;
  private readonly built = new Map<ChannelName, { updatedAt: number; channel: Promise<PaymentChannel> }>();
  private readonly creating = new Map<string, Promise<CheckoutRow>>();
  private readonly querying = new Map<number, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly host: PaymentHost,
    private readonly options: PaymentOptions = {},
  ) {
    this.schedule = { ...DEFAULT_SCHEDULE, ...options.schedule };
  }

  // ------------------------------------------------------------ addresses

  /** The shop's address as gateways and returning buyers reach it. */
  publicBase(): string {
    const configured = this.publicUrl || readSettings(this.host.db).publicUrl;
    return (configured || this.listenUrl || 'http://127.0.0.1:8787').replace(/\/+$/, '');
  }

  /** The host name of the public address the owner gave (bracketed if IPv6), or null when none. */
  publicHost(): string | null {
    const configured = this.publicUrl || readSettings(this.host.db).publicUrl;
    if (!configured) return null;
    try {
      return new URL(configured).hostname;
    } catch {
      return null;
    }
  }

  notifyUrl(name: ChannelName): string {
    return `${this.publicBase()}/api/v1/payments/${name}/notify`;
  }

  returnUrl(name: ChannelName, orderId: string): string {
    return `${this.publicBase()}/api/v1/payments/${name}/return/${encodeURIComponent(orderId)}`;
  }

  /** True when a gateway on the internet cannot reach the notify URL (it names this PC only). */
  notifyUnreachable(): boolean {
    try {
      return isLocalHost(new URL(this.publicBase()).hostname.replace(/^\[|\]$/g, ''));
    } catch {
      return true;
    }
  }

  // ------------------------------------------------------------ the owner's settings

  list(): ChannelView[] {
    return listChannels(this.host.db, this.host.vault).map((c) => ({ ...c, notifyUrl: this.notifyUrl(c.name) }));
  }

  async configure(name: ChannelName, input: ChannelInput, actor: string): Promise<ChannelView> {
    const saved = await this.host.writer.run((db, now) => writeChannel(db, this.host.vault, now, name, input, actor));
    return { ...saved, notifyUrl: this.notifyUrl(name) };
  }

  async setEnabled(name: ChannelName, enabled: boolean, actor: string): Promise<ChannelView> {
    const saved = await this.host.writer.run((db, now) => setChannelEnabled(db, this.host.vault, now, name, enabled, actor));
    return { ...saved, notifyUrl: this.notifyUrl(name) };
  }

  async remove(name: ChannelName, actor: string): Promise<boolean> {
    return this.host.writer.run((db, now) => deleteChannel(db, now, name, actor));
  }

  /** Signs and verifies a sample with the stored keys; no network. */
  async selfCheck(name: ChannelName): Promise<ChannelSelfCheck> {
    const channel = await this.channel(name, true);
    if (!channel) throw new EngineError('channel_not_configured', `the ${name} channel is not configured`);
    return channel.selfCheck();
  }

  /** The enabled channels and their methods, for the buyer page. */
  publicChannels(): PublicChannel[] {
    const versions = channelVersions(this.host.db);
    return this.list()
      .filter((c) => versions.get(c.name)?.enabled)
      .map((c) => ({ name: c.name, methods: c.methods }));
  }

  /**
   * The channel built from its current settings, or null when it is not configured (or, unless
   * `evenDisabled`, switched off). A switched-off channel still answers notifications and queries: a
   * buyer may have paid through it before it was switched off.
   */
  async channel(name: ChannelName, evenDisabled = false): Promise<PaymentChannel | null> {
    const version = channelVersions(this.host.db).get(name);
    if (!version || (!version.enabled && !evenDisabled)) return null;
    const cached = this.built.get(name);
    if (cached?.updatedAt === version.updatedAt) return cached.channel;
    const stored = readChannel(this.host.db, this.host.vault, name);
    if (!stored) return null;
    const channel = createChannel(name, stored.settings, {
      fetch: this.options.fetch ?? fetch,
      clock: this.host.clock,
      timeoutMs: this.options.timeoutMs ?? 10_000,
    });
    this.built.set(name, { updatedAt: version.updatedAt, channel });
    channel.catch(() => this.built.delete(name));
    return channel;
  }

  // ------------------------------------------------------------ buyers

  /**
   * A checkout for a reserved order: the one already made for this order and channel, or a new one from
   * the gateway. The amount is always the order's own.
   */
  async checkout(order: OrderView, name: string, method: string | undefined, clientIp: string): Promise<Checkout> {
    if (!(CHANNEL_NAMES as readonly string[]).includes(name))
      throw new EngineError('channel_not_configured', `there is no payment channel "${name.slice(0, 40)}"`);
    const channelName = name as ChannelName;
    const channel = await this.channel(channelName);
    if (!channel) throw new EngineError('channel_not_configured', `the ${channelName} channel is not switched on`);
    const existing = findCheckout(this.host.db, order.id, channelName);
    if (existing) return this.view(existing);
    if (order.status !== 'reserved' || Date.parse(order.expiresAt) <= this.host.clock())
      throw new EngineError('order_not_payable', `the order is ${order.status === 'reserved' ? 'past its hold' : order.status}`);
    if (channel.currencies !== 'any' && !channel.currencies.includes(order.currency))
      throw new EngineError(
        'currency_not_supported',
        `${channelName} takes ${channel.currencies.join(', ')}, not ${order.currency}`,
      );
    const chosen = method ?? channel.methods[0]!;
    if (!channel.methods.includes(chosen))
      throw new EngineError('validation_failed', `method: ${channelName} offers ${channel.methods.join(', ')}`);

    const key = `${order.id}\n${channelName}`;
    let pending = this.creating.get(key);
    if (!pending) {
      pending = this.makeCheckout(channel, order, chosen, clientIp).finally(() => this.creating.delete(key));
      this.creating.set(key, pending);
    }
    return this.view(await pending);
  }

  private async makeCheckout(channel: PaymentChannel, order: OrderView, method: string, clientIp: string): Promise<CheckoutRow> {
    const expiresAt = Date.parse(order.expiresAt);
    let made;
    try {
      made = await channel.createCheckout(
        {
          id: order.id,
          amount: order.amount,
          currency: order.currency,
          subject: getProduct(this.host.db, order.productId)?.name ?? order.productId,
          quantity: order.quantity,
          email: order.email,
          expiresAt,
        },
        method,
        { notifyUrl: this.notifyUrl(channel.name), returnUrl: this.returnUrl(channel.name, order.id), clientIp },
      );
    } catch (error) {
      throw unavailable(channel.name, error);
    }
    return this.host.writer.run((db, now) =>
      saveCheckout(
        db,
        now,
        { orderId: order.id, channel: channel.name, made, amount: order.amount, currency: order.currency, expiresAt },
        this.schedule,
      ),
    );
  }

  private view(row: CheckoutRow): Checkout {
    return {
      channel: row.channel,
      method: row.method,
      amount: row.amount,
      currency: row.currency,
      ...(row.redirect_url !== null ? { redirectUrl: row.redirect_url } : {}),
      ...(row.qr_code !== null ? { qrCode: row.qr_code } : {}),
      expiresAt: new Date(row.expires_at).toISOString(),
    };
  }

  /** The checkout of an order through one channel, if one was made. */
  checkoutOf(orderId: string, name: ChannelName): Checkout | null {
    const row = findCheckout(this.host.db, orderId, name);
    return row ? this.view(row) : null;
  }

  // ------------------------------------------------------------ gateways

  /**
   * A notification from a gateway. The signature is checked first: a bad one writes nothing and gets
   * the answer the gateway takes as "not delivered". A valid one is recorded and applied in one
   * transaction (the trade number once, with its effect) and gets the gateway's "success".
   */
  async notify(name: ChannelName, incoming: IncomingNotification): Promise<NotifyAnswer> {
    const channel = await this.channel(name, true);
    if (!channel) throw new EngineError('channel_not_configured', `the ${name} channel is not configured`);
    const verified = await channel.verifyNotification(incoming, this.host.clock());
    if (!verified.valid) return channel.answer(false);
    const { payment, orderId, state } = verified;
    if (orderId === null) return channel.answer(true);
    const result = await this.host.writer.run((db, now) => {
      recordNotification(db, now, name, orderId, {
        state,
        ...(payment ? { tradeNo: payment.tradeNo, amount: payment.amount, currency: payment.currency } : {}),
      });
      return payment && state === 'paid'
        ? applyGatewayPayment(db, { now }, { channel: name, via: 'notify', payment, actor: `gateway:${name}` })
        : null;
    });
    if (result?.order && result.effect !== 'duplicate_event') this.host.orderChanged(result.order);
    return channel.answer(true);
  }

  /**
   * Asks the channels about an order's checkouts now (the buyer's "I have paid", the admin's
   * *Re-query*, the buyer's browser coming back from the gateway). A checkout asked within the last
   * `refreshGapMs` is not asked again, unless an admin asks. Returns how many checkouts were asked.
   */
  async refresh(orderId: string, reason: Exclude<QueryReason, 'schedule'>, actor: string): Promise<number> {
    const gap = reason === 'admin' ? 0 : (this.options.refreshGapMs ?? 2_000);
    const now = this.host.clock();
    const rows = orderCheckouts(this.host.db, orderId).filter(
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
    const order = getOrder(this.host.db, row.order_id);
    const channel = await this.channel(row.channel, true).catch(() => null);
    if (!order || (order.status !== 'reserved' && order.status !== 'expired') || !channel) {
      // Paid another way, refunded, or the channel was removed: nothing to wait for.
      if (row.state === 'open') await this.host.writer.run((db) => closeCheckout(db, row.id));
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
    const paid = await this.host.writer.run((db, now) => {
      recordQuery(db, now, row, result, reason, actor, this.schedule);
      return result.state === 'paid' && result.payment
        ? applyGatewayPayment(db, { now }, { channel: row.channel, via: 'query', payment: result.payment, actor })
        : null;
    });
    if (paid?.order && paid.effect !== 'duplicate_event') this.host.orderChanged(paid.order);
  }

  /** Gives the money back through the channel that took it, then refunds the order (see refund.ts). */
  async refund(args: GatewayRefund): Promise<OrderView> {
    const order = await refundThroughChannel(this.host, (name) => this.channel(name, true), args);
    this.host.orderChanged(order);
    return order;
  }

  // ------------------------------------------------------------ the poller

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
      const soonest = nextDueAt(this.host.db);
      if (soonest === null || soonest > this.host.clock()) return;
      const due = await this.host.writer.run((db, now) => claimDueQueries(db, now, CLAIM_BATCH, QUERY_LEASE_MS));
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

  /** Stops the poller and waits for the queries in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    await Promise.allSettled([...this.querying.values(), ...this.creating.values()]);
  }
}

function unavailable(name: ChannelName, error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const why = error instanceof Error ? error.message : String(error);
  return new EngineError('channel_unavailable', `${name}: ${why}`.slice(0, 300));
}
