/**
 * The shop's payment channels at run time: the channels built from their stored settings, checkouts for
 * buyers, notifications from gateways, refunds through the channel that took the money, and the poller
 * (poller.ts) that asks each channel about the checkouts still waiting, so that a paid buyer gets the
 * code even when the notification never arrives (a shop on a PC behind NAT may get none at all).
 *
 * Network calls to a gateway never happen inside a write transaction: the checkout is made first and
 * then stored (a racing request's stored checkout wins); a query runs after its claim committed and its
 * result is applied in a transaction of its own.
 */
import { isLocalHost } from '../../shared/rpc/settings';
import type { ChannelSelfCheck } from '../../shared/payments';
import { CHANNEL_NAMES, type Checkout, type ChannelName, type PublicChannel } from '../../shared/payments';
import { EngineError } from '../lib/errors';
import type { OrderView } from '../engine/order-rows';
import type { IncomingNotification, NotifyAnswer, PaymentChannel } from './channel';
import { notConfigured, type ChannelInput, type ChannelSummary } from './config-store';
import { StatusPoller, type QueryOptions } from './poller';
import { DEFAULT_SCHEDULE, type CheckoutRow, type QueryReason, type QuerySchedule } from './records';
import { refundThroughChannel, type GatewayRefund } from './refund';
import { createChannel } from './registry';
import type { PaymentStore } from './store';

/** What the service needs from the shop that owns it (the SQLite engine, a PostgreSQL shop). */
export interface PaymentHost {
  /** Where the channels' rows live (store-sqlite.ts, pg/payments.ts). */
  readonly store: PaymentStore;
  readonly clock: () => number;
  /** A payment changed an order (live pages refresh). */
  orderChanged(order: OrderView): unknown;
}

/** Options of the channels, and of the poller (poller.ts's QueryOptions). */
export interface PaymentOptions extends QueryOptions {
  readonly schedule?: Partial<QuerySchedule>;
  readonly fetch?: typeof fetch;
  /** Per request to a gateway. */
  readonly timeoutMs?: number;
}

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
  private readonly poller: StatusPoller;

  constructor(
    private readonly host: PaymentHost,
    private readonly options: PaymentOptions = {},
  ) {
    this.schedule = { ...DEFAULT_SCHEDULE, ...options.schedule };
    this.poller = new StatusPoller(host, (name) => this.channel(name, true), this.schedule, options);
  }

  // ------------------------------------------------------------ addresses

  /** The shop's address as gateways and returning buyers reach it. */
  publicBase(): string {
    const configured = this.publicUrl || this.host.store.savedPublicUrl();
    return (configured || this.listenUrl || 'http://127.0.0.1:8787').replace(/\/+$/, '');
  }

  /** The host name of the public address the owner gave (bracketed if IPv6), or null when none. */
  publicHost(): string | null {
    const configured = this.publicUrl || this.host.store.savedPublicUrl();
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

  async list(): Promise<ChannelView[]> {
    return (await this.host.store.listChannels()).map((c) => ({ ...c, notifyUrl: this.notifyUrl(c.name) }));
  }

  async configure(name: ChannelName, input: ChannelInput, actor: string): Promise<ChannelView> {
    const saved = await this.host.store.writeChannel(name, input, actor);
    return { ...saved, notifyUrl: this.notifyUrl(name) };
  }

  async setEnabled(name: ChannelName, enabled: boolean, actor: string): Promise<ChannelView> {
    const saved = await this.host.store.setChannelEnabled(name, enabled, actor);
    return { ...saved, notifyUrl: this.notifyUrl(name) };
  }

  remove(name: ChannelName, actor: string): Promise<boolean> {
    return this.host.store.deleteChannel(name, actor);
  }

  /** Signs and verifies a sample with the stored keys; no network. */
  async selfCheck(name: ChannelName): Promise<ChannelSelfCheck> {
    const channel = await this.channel(name, true);
    if (!channel) throw notConfigured(name);
    return channel.selfCheck();
  }

  /** The enabled channels and their methods, for the buyer page. */
  async publicChannels(): Promise<PublicChannel[]> {
    const versions = await this.host.store.channelVersions();
    return (await this.list()).filter((c) => versions.get(c.name)?.enabled).map((c) => ({ name: c.name, methods: c.methods }));
  }

  /**
   * The channel built from its current settings, or null when it is not configured (or, unless
   * `evenDisabled`, switched off). A switched-off channel still answers notifications and queries: a
   * buyer may have paid through it before it was switched off.
   */
  async channel(name: ChannelName, evenDisabled = false): Promise<PaymentChannel | null> {
    const version = (await this.host.store.channelVersions()).get(name);
    if (!version || (!version.enabled && !evenDisabled)) return null;
    const cached = this.built.get(name);
    if (cached?.updatedAt === version.updatedAt) return cached.channel;
    const stored = await this.host.store.readChannel(name);
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
    const existing = await this.host.store.findCheckout(order.id, channelName);
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
          subject: (await this.host.store.productName(order.productId)) ?? order.productId,
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
    return this.host.store.saveCheckout(
      { orderId: order.id, channel: channel.name, made, amount: order.amount, currency: order.currency, expiresAt },
      this.schedule,
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
  async checkoutOf(orderId: string, name: ChannelName): Promise<Checkout | null> {
    const row = await this.host.store.findCheckout(orderId, name);
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
    if (!channel) throw notConfigured(name);
    const verified = await channel.verifyNotification(incoming, this.host.clock());
    if (!verified.valid) return channel.answer(false);
    const { payment, orderId, state } = verified;
    if (orderId === null) return channel.answer(true);
    const result = await this.host.store.applyNotification(name, orderId, { state, payment });
    if (result?.order && result.effect !== 'duplicate_event') this.host.orderChanged(result.order);
    return channel.answer(true);
  }

  /**
   * Asks the channels about an order's checkouts now (the buyer's "I have paid", the admin's
   * *Re-query*, the buyer's browser coming back from the gateway); see poller.ts. Returns how many
   * checkouts were asked.
   */
  refresh(orderId: string, reason: Exclude<QueryReason, 'schedule'>, actor: string): Promise<number> {
    return this.poller.refresh(orderId, reason, actor);
  }

  /** Gives the money back through the channel that took it, then refunds the order (see refund.ts). */
  async refund(args: GatewayRefund): Promise<OrderView> {
    const order = await refundThroughChannel(this.host.store, (name) => this.channel(name, true), args);
    this.host.orderChanged(order);
    return order;
  }

  // ------------------------------------------------------------ the poller

  /** Starts asking channels about due checkouts every `tickMs` (1 s). */
  start(): void {
    this.poller.start();
  }

  /** One round: claim the due checkouts, ask their channels (a few at a time), apply what they say. */
  tick(): Promise<void> {
    return this.poller.tick();
  }

  /** Stops the poller and waits for the queries in flight. */
  async stop(): Promise<void> {
    await this.poller.halt();
    await Promise.allSettled([...this.poller.running(), ...this.creating.values()]);
  }
}

function unavailable(name: ChannelName, error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const why = error instanceof Error ? error.message : String(error);
  return new EngineError('channel_unavailable', `${name}: ${why}`.slice(0, 300));
}
