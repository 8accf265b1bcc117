/**
 * The owner's payment-channel endpoints, behind the admin bearer token: configure a channel (secrets are
 * write-only: the answer names the fields that are set), list them, switch one off, forget one, run its
 * signed self-check, and ask the channels about an order now (*Re-query*).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AdminOrderResponse, API_PREFIX, IdParams } from '../../shared/api';
import { ChannelListing, ChannelSelfCheck, isChannelName, type ChannelName } from '../../shared/payments';
import type { ShopBackend } from '../engine/backend';
import { toListing } from '../payments/listing';
import { HttpProblem } from './problems';
import { BODY_ERRORS, responses } from './route-docs';
import { adminGuard } from './security';
import { toAdminOrder } from './views';

export interface PaymentAdminOptions {
  readonly shop: ShopBackend;
  readonly adminTokenDigest: Buffer | null;
}

const ChannelParams = z.object({ channel: z.string().max(40) });
const ChannelBody = z
  .record(z.string(), z.unknown())
  .describe("the channel's settings (see the spec); secrets left out keep their stored values; `enabled` switches it");
const ChannelResponse = z.object({ channel: ChannelListing });

function channelParam(name: string): ChannelName {
  if (!isChannelName(name)) throw new HttpProblem('channel_not_configured', `there is no payment channel "${name.slice(0, 40)}"`);
  return name;
}

export const paymentAdminRoutes: FastifyPluginAsyncZod<PaymentAdminOptions> = async (app, { shop, adminTokenDigest }) => {
  app.addHook('onRequest', adminGuard(adminTokenDigest));
  const security = [{ adminToken: [] }];
  const payments = shop.payments;

  app.get(
    `${API_PREFIX}/admin/payment-channels`,
    {
      schema: {
        summary: 'The configured payment channels (no secrets)',
        operationId: 'adminListPaymentChannels',
        tags: ['admin'],
        security,
        response: responses({ 200: { schema: z.object({ channels: z.array(ChannelListing) }), description: 'channels' } }, [
          'unauthorized',
        ]),
      },
    },
    async () => ({ channels: (await payments.list()).map(toListing) }),
  );

  app.put(
    `${API_PREFIX}/admin/payment-channels/:channel`,
    {
      schema: {
        summary: 'Configure a payment channel (the secrets are sealed by the vault and never returned)',
        operationId: 'adminPutPaymentChannel',
        tags: ['admin'],
        security,
        params: ChannelParams,
        body: ChannelBody,
        response: responses({ 200: { schema: ChannelResponse, description: 'the channel as stored' } }, [
          'unauthorized',
          ...BODY_ERRORS,
          'channel_not_configured',
        ]),
      },
    },
    async (request) => {
      const name = channelParam(request.params.channel);
      const { enabled, ...settings } = request.body;
      if (enabled !== undefined && typeof enabled !== 'boolean')
        throw new HttpProblem('validation_failed', 'enabled: true or false', {
          errors: [{ path: 'enabled', message: 'true or false' }],
        });
      const view = await payments.configure(name, { settings, ...(enabled === undefined ? {} : { enabled }) }, 'admin-api');
      return { channel: toListing(view) };
    },
  );

  app.delete(
    `${API_PREFIX}/admin/payment-channels/:channel`,
    {
      schema: {
        summary: "Forget a payment channel's settings and secrets",
        operationId: 'adminDeletePaymentChannel',
        tags: ['admin'],
        security,
        params: ChannelParams,
        response: {
          ...responses({}, ['unauthorized', 'channel_not_configured']),
          204: z.null().describe('forgotten'),
        },
      },
    },
    async (request, reply) => {
      const name = channelParam(request.params.channel);
      if (!(await payments.remove(name, 'admin-api')))
        throw new HttpProblem('channel_not_configured', `${name} is not configured`);
      return reply.code(204).send(null);
    },
  );

  app.post(
    `${API_PREFIX}/admin/payment-channels/:channel/test`,
    {
      schema: {
        summary: "Signed self-check of a channel's keys (no network)",
        operationId: 'adminTestPaymentChannel',
        tags: ['admin'],
        security,
        params: ChannelParams,
        response: responses({ 200: { schema: ChannelSelfCheck, description: 'each check and its result' } }, [
          'unauthorized',
          'channel_not_configured',
        ]),
      },
    },
    async (request) => payments.selfCheck(channelParam(request.params.channel)),
  );

  app.post(
    `${API_PREFIX}/admin/orders/:id/requery`,
    {
      schema: {
        summary: "Ask the order's payment channels about it now (a payment found is applied like a notification)",
        operationId: 'adminRequeryOrder',
        tags: ['admin'],
        security,
        params: IdParams,
        response: responses({ 200: { schema: AdminOrderResponse, description: 'the order after asking' } }, [
          'unauthorized',
          'order_not_found',
        ]),
      },
    },
    async (request) => {
      if (!(await shop.getOrder(request.params.id))) throw new HttpProblem('order_not_found', `no order ${request.params.id}`);
      await payments.refresh(request.params.id, 'admin', 'admin-api');
      return { order: toAdminOrder((await shop.getOrder(request.params.id))!) };
    },
  );
};
