/**
 * The payment gateway's webhook. The signature covers the RAW body bytes, so this route reads its body
 * as a Buffer (its own content parser, in its own encapsulated scope), checks
 * `OnceKey-Signature: t=<unix>,v1=<hex>` in constant time within a 300 s window, and only then parses
 * the JSON and validates it. A bad signature changes nothing. A valid event always gets 200
 * `{"received": true}`: what it did (deliver, review, nothing for a repeated event id) is the engine's
 * decision, recorded in the same transaction as the effect.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { API_PREFIX, HEADERS, WEBHOOK_TOLERANCE_SECONDS, WebhookAck, WebhookEvent, WebhookHeaders } from '../../shared/api';
import type { ShopBackend } from '../engine/backend';
import { HttpProblem } from './problems';
import { BODY_ERRORS, responses } from './route-docs';

export interface WebhookRouteOptions {
  readonly engine: ShopBackend;
  readonly webhookSecret: string;
}

/**
 * True when `header` carries a `v1` HMAC-SHA256 of `"<t>.<raw>"` under `secret` and `t` is within the
 * window of `nowSeconds`. Several `v1` values (secret rotation) are each compared in constant time.
 */
export function verifySignature(header: string | undefined, raw: Buffer, secret: string, nowSeconds: number): boolean {
  if (header === undefined || secret === '' || header.length > 4096) return false;
  let timestamp: string | null = null;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't') {
      if (timestamp !== null) return false;
      timestamp = value;
    } else if (name === 'v1' && /^[0-9a-fA-F]{64}$/.test(value)) {
      candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === null || !/^\d{1,12}$/.test(timestamp) || candidates.length === 0) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(raw).digest();
  let ok = false;
  for (const candidate of candidates) ok = timingSafeEqual(candidate, expected) || ok;
  return ok;
}

const invalid = (): HttpProblem =>
  new HttpProblem('invalid_signature', 'the OnceKey-Signature header is missing, wrong or too old');

export const webhookRoutes: FastifyPluginAsyncZod<WebhookRouteOptions> = async (app, { engine, webhookSecret }) => {
  // Encapsulated: only this route reads bodies as raw bytes, whatever their Content-Type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post(
    `${API_PREFIX}/payments/webhook`,
    {
      schema: {
        summary: 'Payment succeeded (called by the payment gateway)',
        operationId: 'paymentWebhook',
        description:
          'Signed with `OnceKey-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` over the raw body; ' +
          '`t` must be within 300 s. Any valid event gets 200; a repeated event id has no second effect; a mismatch puts the ' +
          'order in needs_review. Fields beyond the documented ones are ignored.',
        tags: ['gateway'],
        // Authenticated by the body's signature, not by a bearer token.
        security: [],
        headers: WebhookHeaders,
        body: WebhookEvent,
        response: responses({ 200: { schema: WebhookAck, description: 'event received' } }, [
          ...BODY_ERRORS,
          'invalid_signature',
          'busy',
        ]),
      },
      preValidation: (request, _reply, done) => {
        const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const header = request.headers[HEADERS.signature];
        if (
          !verifySignature(typeof header === 'string' ? header : undefined, raw, webhookSecret, Math.floor(engine.clock() / 1000))
        ) {
          done(invalid());
          return;
        }
        try {
          // Validated against WebhookEvent right after this hook.
          request.body = JSON.parse(raw.toString('utf8')) as typeof request.body;
        } catch {
          done(new HttpProblem('bad_request', 'the body is not valid JSON'));
          return;
        }
        done();
      },
    },
    async (request) => {
      const event = request.body;
      if (event.status === 'succeeded') {
        await engine.pay({
          orderId: event.orderId,
          amount: event.amount,
          currency: event.currency.toUpperCase(),
          eventId: event.id,
          source: 'webhook',
        });
      }
      return { received: true as const };
    },
  );
};
