/**
 * Payment channels on the shop endpoint (../shared/spec/http-api.md, "Payment channels"):
 *
 * - for buyers: the enabled channels, a checkout for a reserved order, its QR code as an SVG drawn here
 *   (no outside QR service), and "I have paid" (`refresh`: ask the channel now);
 * - for gateways, in their own formats: `GET|POST /payments/{channel}/notify`, read as raw bytes (the
 *   signature covers them) in an encapsulated scope, and the buyer's browser coming back from the
 *   gateway (`/payments/{channel}/return/{id}`), which only triggers a query and never delivers by itself.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import QRCode from 'qrcode';
import { z } from 'zod';
import { API_PREFIX, IdParams, OrderResponse } from '../../shared/api';
import { Checkout, CheckoutBody, ChannelName, isChannelName, PublicChannel } from '../../shared/payments';
import type { ShopBackend } from '../engine/backend';
import type { OrderView } from '../engine/order-rows';
import type { IncomingNotification } from '../payments/channel';
import { HttpProblem } from './problems';
import { rateLimited } from './public-routes';
import { BODY_ERRORS, responses } from './route-docs';
import { bearerToken } from './security';
import { toPublicOrder } from './views';

export interface PaymentRouteOptions {
  readonly shop: ShopBackend;
  readonly rateLimitPerMinute: number;
}

const ChannelParams = z.object({ channel: z.string().max(40) });
const QrParams = z.object({ id: z.string(), channel: z.string().max(40) });
const ReturnParams = z.object({ channel: z.string().max(40), id: z.string().max(200) });

/** The order its access token opens, or the same 404 for an unknown id and a wrong token. */
async function buyerOrder(shop: ShopBackend, id: string, authorization: string | undefined): Promise<OrderView> {
  const order = await shop.getOrderWithToken(id, bearerToken(authorization) ?? '');
  if (!order) throw new HttpProblem('order_not_found', 'no such order, or the token does not open it');
  return order;
}

async function publicOrder(shop: ShopBackend, order: OrderView) {
  return { order: toPublicOrder(order, order.status === 'delivered' ? await shop.deliveredCodes(order.id) : undefined) };
}

const channelOf = (name: string) => {
  if (!isChannelName(name)) throw new HttpProblem('channel_not_configured', `there is no payment channel "${name.slice(0, 40)}"`);
  return name;
};

export const paymentRoutes: FastifyPluginAsyncZod<PaymentRouteOptions> = async (app, { shop, rateLimitPerMinute }) => {
  const payments = shop.payments;
  const orderToken = [{ orderToken: [] }];

  app.get(
    `${API_PREFIX}/payment-channels`,
    {
      schema: {
        summary: 'The payment channels a buyer can pay through, with their methods',
        operationId: 'listPaymentChannels',
        tags: ['public'],
        security: [],
        response: responses(
          { 200: { schema: z.object({ channels: z.array(PublicChannel) }), description: 'enabled channels' } },
          [],
        ),
      },
    },
    async () => ({ channels: await payments.publicChannels() }),
  );

  app.post(
    `${API_PREFIX}/orders/:id/checkout`,
    {
      schema: {
        summary: 'Pay a reserved order through a channel: a page to go to or a QR code to scan',
        description:
          "The amount is always the order's own. A second checkout for the same order and channel returns the same payment.",
        operationId: 'checkoutOrder',
        tags: ['public'],
        security: orderToken,
        params: IdParams,
        body: CheckoutBody,
        response: responses({ 200: { schema: z.object({ checkout: Checkout }), description: 'the payment to make' } }, [
          ...BODY_ERRORS,
          'order_not_found',
          'order_not_payable',
          'channel_not_configured',
          'currency_not_supported',
          'channel_unavailable',
          'rate_limited',
        ]),
      },
      config: rateLimited('lookup', rateLimitPerMinute),
    },
    async (request) => {
      const order = await buyerOrder(shop, request.params.id, request.headers.authorization);
      const checkout = await payments.checkout(order, request.body.channel, request.body.method, request.ip);
      return { checkout };
    },
  );

  app.get(
    `${API_PREFIX}/orders/:id/checkout/:channel/qr.svg`,
    {
      schema: {
        summary: "The checkout's QR code as an SVG image",
        operationId: 'checkoutQrCode',
        tags: ['public'],
        security: orderToken,
        params: QrParams,
        response: {
          ...responses({}, ['order_not_found', 'not_found', 'rate_limited']),
          200: { description: 'the QR code', content: { 'image/svg+xml': { schema: z.string() } } },
        },
      },
      config: rateLimited('lookup', rateLimitPerMinute),
    },
    async (request, reply) => {
      const order = await buyerOrder(shop, request.params.id, request.headers.authorization);
      const checkout = await payments.checkoutOf(order.id, channelOf(request.params.channel));
      if (!checkout?.qrCode) throw new HttpProblem('not_found', 'this order has no QR code for that channel');
      const svg = await QRCode.toString(checkout.qrCode, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
      return reply.type('image/svg+xml; charset=utf-8').send(svg);
    },
  );

  app.post(
    `${API_PREFIX}/orders/:id/refresh`,
    {
      schema: {
        summary: '"I have paid": ask the channel about this order now',
        description: 'Rate limited like lookups; a payment found is applied exactly like a notification.',
        operationId: 'refreshOrder',
        tags: ['public'],
        security: orderToken,
        params: IdParams,
        response: responses({ 200: { schema: OrderResponse, description: 'the order after asking' } }, [
          'order_not_found',
          'rate_limited',
        ]),
      },
      config: rateLimited('lookup', rateLimitPerMinute),
    },
    async (request) => {
      const order = await buyerOrder(shop, request.params.id, request.headers.authorization);
      await payments.refresh(order.id, 'buyer', 'buyer');
      return publicOrder(shop, (await shop.getOrder(order.id))!);
    },
  );

  app.get(
    `${API_PREFIX}/payments/:channel/return/:id`,
    {
      schema: {
        summary: "The buyer's browser back from the gateway: asks the channel, then shows the order page",
        operationId: 'paymentReturn',
        tags: ['gateway'],
        security: [],
        params: ReturnParams,
        response: {
          ...responses({}, ['not_found', 'rate_limited']),
          303: z.null().describe('to the order page'),
        },
      },
      config: rateLimited('lookup', rateLimitPerMinute),
    },
    async (request, reply) => {
      const { id } = request.params;
      channelOf(request.params.channel);
      // The parameters the gateway added are not trusted here: a query asks the channel itself.
      if (await shop.getOrder(id)) {
        payments.refresh(id, 'return', 'buyer').catch(() => undefined);
      }
      return reply
        .code(303)
        .header('location', `/#/order/${encodeURIComponent(id)}`)
        .send(null);
    },
  );

  await app.register(notifyRoutes, { shop });
};

/** The gateways' notifications: raw bytes in, the channel's own answer out. */
const notifyRoutes: FastifyPluginAsyncZod<{ shop: ShopBackend }> = async (app, { shop }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  // GET (epay may notify by query string) and POST: one handler, an operationId each.
  for (const [method, operationId] of [
    ['GET', 'paymentNotifyByQuery'],
    ['POST', 'paymentNotify'],
  ] as const) {
    app.route({
      method,
      url: `${API_PREFIX}/payments/:channel/notify`,
      schema: {
        summary: "A payment channel's notification, in that channel's own format",
        description:
          'epay: the signed parameters as a query string or a form body, answered text/plain `success` (a bad signature: 400 `fail`). ' +
          'alipay: a signed form, answered `success`. wechatpay: signed JSON with an encrypted resource, answered 204. ' +
          'stripe: `checkout.session.completed` signed with Stripe-Signature, answered 200. A trade number takes effect once.',
        operationId,
        tags: ['gateway'],
        security: [],
        params: ChannelParams,
        response: {
          ...responses({}, ['channel_not_configured', 'busy']),
          200: { description: "the channel's success answer", content: { 'text/plain': { schema: z.string() } } },
          204: z.null().describe('received (WeChat Pay)'),
          400: { description: "the channel's failure answer (bad signature)", content: { 'text/plain': { schema: z.string() } } },
        },
      },
      handler: async (request, reply) => {
        const name = ChannelName.safeParse(request.params.channel);
        if (!name.success) throw new HttpProblem('channel_not_configured', 'there is no such payment channel');
        const headers: Record<string, string | undefined> = {};
        for (const [key, value] of Object.entries(request.headers)) headers[key] = Array.isArray(value) ? value[0] : value;
        const query: Record<string, string> = {};
        for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
          const first = Array.isArray(value) ? (value as unknown[])[0] : value;
          if (typeof first === 'string') query[key] = first;
        }
        const incoming: IncomingNotification = {
          method: request.method,
          query,
          headers,
          contentType: String(request.headers['content-type'] ?? ''),
          rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        };
        const answer = await shop.payments.notify(name.data, incoming);
        return reply
          .code(answer.status as 200)
          .type(answer.contentType)
          .send(answer.body);
      },
    });
  }
};
