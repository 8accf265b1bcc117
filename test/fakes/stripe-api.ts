/**
 * A fake Stripe API on 127.0.0.1 speaking the subset the official SDK calls for Checkout, written from
 * Stripe's API reference: form-encoded `POST /v1/checkout/sessions` (bracketed keys such as
 * `line_items[0][price_data][unit_amount]`), `GET /v1/checkout/sessions/:id`, `POST /v1/refunds`; the
 * bearer secret key is checked, and a repeated `Idempotency-Key` replays the first answer. A session is
 * paid here and its `checkout.session.completed` event posted to the shop, signed with the endpoint
 * secret in Stripe's published scheme (`Stripe-Signature: t=<unix>,v1=<HMAC-SHA256 of "t.payload">`).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, FakeServer } from './fake-server';

export interface FakeSession {
  readonly id: string;
  readonly clientReferenceId: string;
  readonly amountTotal: number;
  readonly currency: string;
  readonly successUrl: string;
  readonly expiresAt: number;
  status: 'open' | 'complete' | 'expired';
  paymentStatus: 'unpaid' | 'paid';
  paymentIntent: string | null;
}

/** Stripe's signature header for `payload` at `t` (unix seconds) under `secret`. */
export function stripeSignature(payload: string, secret: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${payload}`, 'utf8').digest('hex')}`;
}

export class FakeStripeApi extends FakeServer {
  readonly sessions = new Map<string, FakeSession>();
  readonly refunds: { readonly paymentIntent: string; readonly amount: number; readonly idempotencyKey: string }[] = [];
  readonly refused: string[] = [];
  readonly webhooks: { readonly body: string; readonly status: number }[] = [];
  /** Idempotency-Key → the first answer's body. */
  private readonly replies = new Map<string, string>();
  /** Where paid events are posted (the shop's notify URL), set by the test. */
  webhookUrl = '';

  constructor(
    private readonly secretKey: string,
    private readonly webhookSecret: string,
  ) {
    super();
  }

  sessionJson(s: FakeSession, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      id: s.id,
      object: 'checkout.session',
      mode: 'payment',
      client_reference_id: s.clientReferenceId,
      metadata: { orderId: s.clientReferenceId },
      amount_total: s.amountTotal,
      currency: s.currency,
      status: s.status,
      payment_status: s.paymentStatus,
      payment_intent: s.paymentIntent,
      expires_at: s.expiresAt,
      success_url: s.successUrl,
      url: `${this.url}/pay/${s.id}`,
      ...overrides,
    };
  }

  eventBody(s: FakeSession, overrides: Record<string, unknown> = {}, type = 'checkout.session.completed'): string {
    return JSON.stringify({
      id: `evt_${randomBytes(8).toString('hex')}`,
      object: 'event',
      type,
      api_version: '2026-11-18.endive',
      created: Math.floor(Date.now() / 1000),
      data: { object: this.sessionJson(s, overrides) },
    });
  }

  async sendWebhook(
    body: string,
    signature = stripeSignature(body, this.webhookSecret),
  ): Promise<{ status: number; body: string }> {
    const response = await fetch(this.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signature },
      body,
    });
    const sent = { status: response.status, body: await response.text() };
    this.webhooks.push({ body, status: sent.status });
    return sent;
  }

  /** The buyer paid on Stripe's page; unless `webhook: false`, the event is sent. */
  async pay(sessionId: string, options: { webhook?: boolean } = {}): Promise<FakeSession> {
    const s = this.sessions.get(sessionId);
    if (!s) throw new Error(`the fake Stripe has no session ${sessionId}`);
    s.status = 'complete';
    s.paymentStatus = 'paid';
    s.paymentIntent = `pi_${randomBytes(10).toString('hex')}`;
    if (options.webhook !== false) await this.sendWebhook(this.eventBody(s));
    return s;
  }

  sessionFor(orderId: string): FakeSession | undefined {
    return [...this.sessions.values()].find((s) => s.clientReferenceId === orderId);
  }

  private json(res: ServerResponse, status: number, body: string): void {
    res
      .writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${randomBytes(6).toString('hex')}` })
      .end(body);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${this.secretKey}`) {
      this.refused.push('bad secret key');
      return this.json(
        res,
        401,
        JSON.stringify({ error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } }),
      );
    }
    const key = String(req.headers['idempotency-key'] ?? '');
    if (req.method === 'POST' && key !== '' && this.replies.has(key)) return this.json(res, 200, this.replies.get(key)!);
    const form = Object.fromEntries(new URLSearchParams(body));
    const url = new URL(req.url ?? '/', this.url);
    let answer: string;
    if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      const session: FakeSession = {
        id: `cs_test_${randomBytes(12).toString('hex')}`,
        clientReferenceId: form.client_reference_id ?? '',
        amountTotal: Number(form['line_items[0][price_data][unit_amount]']) * Number(form['line_items[0][quantity]'] ?? 1),
        currency: form['line_items[0][price_data][currency]'] ?? '',
        successUrl: form.success_url ?? '',
        expiresAt: Number(form.expires_at),
        status: 'open',
        paymentStatus: 'unpaid',
        paymentIntent: null,
      };
      if (!(session.expiresAt * 1000 >= Date.now() + 30 * 60_000 - 5_000))
        return this.json(res, 400, JSON.stringify({ error: { type: 'invalid_request_error', param: 'expires_at' } }));
      this.sessions.set(session.id, session);
      answer = JSON.stringify(this.sessionJson(session));
    } else if (req.method === 'GET' && url.pathname.startsWith('/v1/checkout/sessions/')) {
      const session = this.sessions.get(decodeURIComponent(url.pathname.slice('/v1/checkout/sessions/'.length)));
      if (!session)
        return this.json(res, 404, JSON.stringify({ error: { type: 'invalid_request_error', code: 'resource_missing' } }));
      answer = JSON.stringify(this.sessionJson(session));
    } else if (req.method === 'POST' && url.pathname === '/v1/refunds') {
      const session = [...this.sessions.values()].find((s) => s.paymentIntent === form.payment_intent);
      if (Number(form.amount) !== session?.amountTotal)
        return this.json(res, 400, JSON.stringify({ error: { type: 'invalid_request_error', message: 'bad refund' } }));
      this.refunds.push({ paymentIntent: form.payment_intent!, amount: Number(form.amount), idempotencyKey: key });
      answer = JSON.stringify({
        id: `re_${randomBytes(8).toString('hex')}`,
        object: 'refund',
        amount: Number(form.amount),
        status: 'succeeded',
      });
    } else {
      return this.json(res, 404, JSON.stringify({ error: { type: 'invalid_request_error', message: 'unknown path' } }));
    }
    if (key !== '') this.replies.set(key, answer);
    this.json(res, 200, answer);
  }
}
