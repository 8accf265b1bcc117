/**
 * The Stripe channel, through the official `stripe` package: a Checkout Session per order (the buyer is
 * redirected to Stripe's page), the `checkout.session.completed` webhook verified with the endpoint's
 * signing secret (`Stripe-Signature`, 300 s tolerance) by `stripe.webhooks.constructEvent`, the
 * session read back for a status query, and a refund of its PaymentIntent.
 *
 * Stripe takes amounts in minor units, as OnceKey keeps them, for almost every currency. Where Stripe's
 * unit differs from ISO 4217 (ISK is zero-decimal in ISO but two-decimal at Stripe; HUF, TWD and UGX
 * are charged in whole units; the three-decimal currencies need a trailing zero), a checkout is refused
 * rather than charging the wrong amount.
 */
import Stripe from 'stripe';
import type { StripeSettings } from '../../shared/payments';
import { EngineError } from '../lib/errors';
import {
  ChannelError,
  check,
  selfCheckReport,
  type ChannelDeps,
  type ChannelOrder,
  type CheckoutUrls,
  type GatewayPayment,
  type GatewayState,
  type IncomingNotification,
  type NewCheckout,
  type NotifyAnswer,
  type PaymentChannel,
  type QueryResult,
  type RefundRequest,
  type VerifiedNotification,
} from './channel';

/** Currencies whose minor unit at Stripe is not ISO 4217's (see the file comment). */
export const STRIPE_UNIT_DIFFERS = new Set(['ISK', 'HUF', 'TWD', 'UGX', 'BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/** Stripe's shortest Checkout Session life. */
export const MIN_SESSION_MS = 30 * 60_000;

/** Events that say a session's money arrived. */
const PAID_EVENTS = new Set(['checkout.session.completed', 'checkout.session.async_payment_succeeded']);

export class StripeChannel implements PaymentChannel {
  readonly name = 'stripe' as const;
  readonly currencies = 'any' as const;
  readonly methods: readonly string[];
  private readonly stripe: Stripe;

  constructor(
    private readonly settings: StripeSettings,
    private readonly deps: ChannelDeps,
  ) {
    this.methods = settings.methods;
    const url = new URL(settings.gateway);
    const protocol = url.protocol === 'http:' ? 'http' : 'https';
    this.stripe = new Stripe(settings.secretKey, {
      host: url.hostname,
      port: url.port === '' ? (protocol === 'http' ? 80 : 443) : Number(url.port),
      protocol,
      timeout: deps.timeoutMs,
      // Every write carries an idempotency key, so one retry of a lost answer is safe.
      maxNetworkRetries: 1,
      telemetry: false,
    });
  }

  async createCheckout(order: ChannelOrder, method: string, urls: CheckoutUrls): Promise<NewCheckout> {
    if (STRIPE_UNIT_DIFFERS.has(order.currency))
      throw new EngineError('currency_not_supported', `stripe counts ${order.currency} in other units than the shop; not taken`);
    // Stripe refuses a session shorter than 30 minutes. The hold may end first: a payment after it is
    // then handled by the engine like any late payment (fresh keys if any are left, else needs_review).
    const expiresAt = Math.max(order.expiresAt, this.deps.clock() + MIN_SESSION_MS + 60_000);
    let session: Stripe.Checkout.Session;
    try {
      session = await this.stripe.checkout.sessions.create(
        {
          mode: 'payment',
          client_reference_id: order.id,
          metadata: { orderId: order.id },
          customer_email: order.email,
          line_items: [
            {
              quantity: 1,
              price_data: {
                currency: order.currency.toLowerCase(),
                unit_amount: order.amount,
                product_data: { name: order.quantity > 1 ? `${order.subject} × ${order.quantity}` : order.subject },
              },
            },
          ],
          success_url: urls.returnUrl,
          cancel_url: urls.returnUrl,
          expires_at: Math.floor(expiresAt / 1000),
        },
        // Two processes checking out one order get one session.
        { idempotencyKey: `oncekey-checkout-${order.id}` },
      );
    } catch (error) {
      throw new ChannelError(`stripe refused the session: ${(error as Error).message}`.slice(0, 300));
    }
    if (!session.url) throw new ChannelError('stripe made a session without a page to send the buyer to');
    return { method, redirectUrl: session.url, reference: session.id };
  }

  /** The payment a paid session stands for. */
  private payment(session: Stripe.Checkout.Session): GatewayPayment | null {
    const orderId = session.client_reference_id ?? session.metadata?.orderId ?? '';
    if (orderId === '' || session.amount_total === null || !session.currency) return null;
    const intent = session.payment_intent;
    const tradeNo = typeof intent === 'string' ? intent : (intent?.id ?? session.id);
    return { orderId, tradeNo, amount: session.amount_total, currency: session.currency.toUpperCase() };
  }

  private stateOf(session: Stripe.Checkout.Session): GatewayState {
    if (session.payment_status === 'paid' || session.payment_status === 'no_payment_required') return 'paid';
    if (session.status === 'expired') return 'closed';
    return 'pending';
  }

  verifyNotification(notification: IncomingNotification): VerifiedNotification {
    let event: Stripe.Event;
    try {
      event = this.stripe.webhooks.constructEvent(
        notification.rawBody,
        notification.headers['stripe-signature'] ?? '',
        this.settings.webhookSecret,
        300,
      );
    } catch (error) {
      return { valid: false, reason: `bad signature: ${(error as Error).message}`.slice(0, 200) };
    }
    if (!PAID_EVENTS.has(event.type)) return { valid: true, state: 'unknown', payment: null, orderId: null };
    const session = event.data.object as Stripe.Checkout.Session;
    const state = this.stateOf(session);
    const payment = state === 'paid' ? this.payment(session) : null;
    if (state === 'paid' && !payment) return { valid: false, reason: 'a paid session without client_reference_id or amount' };
    return { valid: true, state, payment, orderId: payment?.orderId ?? session.client_reference_id ?? null };
  }

  answer(ok: boolean): NotifyAnswer {
    return ok
      ? { status: 200, contentType: 'application/json; charset=utf-8', body: '{"received":true}' }
      : { status: 400, contentType: 'application/json; charset=utf-8', body: '{"received":false}' };
  }

  async query(order: { readonly id: string; readonly reference: string | null }): Promise<QueryResult> {
    if (!order.reference) return { state: 'unknown', payment: null, detail: 'stripe: no session id recorded' };
    let session: Stripe.Checkout.Session;
    try {
      session = await this.stripe.checkout.sessions.retrieve(order.reference);
    } catch (error) {
      throw new ChannelError(`stripe: ${(error as Error).message}`.slice(0, 300));
    }
    if ((session.client_reference_id ?? '') !== order.id) throw new ChannelError('stripe answered about another order');
    const state = this.stateOf(session);
    const payment = state === 'paid' ? this.payment(session) : null;
    if (state === 'paid' && !payment) throw new ChannelError('stripe reports the session paid without an amount');
    return { state, payment, detail: `stripe: ${session.status ?? '?'} / ${session.payment_status}` };
  }

  async refund(request: RefundRequest): Promise<{ refundId: string; state: 'done' | 'pending' }> {
    if (!request.tradeNo.startsWith('pi_')) throw new ChannelError('stripe: this payment has no PaymentIntent to refund');
    let refund: Stripe.Refund;
    try {
      refund = await this.stripe.refunds.create(
        { payment_intent: request.tradeNo, amount: request.amount, metadata: { orderId: request.orderId } },
        { idempotencyKey: `oncekey-${request.refundId}` },
      );
    } catch (error) {
      throw new ChannelError(`stripe refused the refund: ${(error as Error).message}`.slice(0, 300));
    }
    if (refund.status === 'failed' || refund.status === 'canceled') throw new ChannelError(`stripe refund ${refund.status}`);
    return { refundId: request.refundId, state: refund.status === 'succeeded' ? 'done' : 'pending' };
  }

  selfCheck() {
    return selfCheckReport([
      check('secret key', () => {
        const live = /^(sk|rk)_live_/.test(this.settings.secretKey);
        return live ? 'a live key: buyers are charged' : 'a test key: no real money moves';
      }),
      check('webhook signing secret', () => {
        const payload = JSON.stringify({ id: 'evt_selfcheck', object: 'event', type: 'selfcheck' });
        const header = this.stripe.webhooks.generateTestHeaderString({ payload, secret: this.settings.webhookSecret });
        this.stripe.webhooks.constructEvent(payload, header, this.settings.webhookSecret);
        return 'a sample event signed with the secret verifies (Stripe-Signature v1)';
      }),
    ]);
  }
}
