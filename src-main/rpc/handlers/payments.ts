/**
 * Handlers for shared/rpc/payments.ts: the same PaymentService the admin HTTP routes use
 * (src-main/http/payment-admin-routes.ts), with the caller named in the audit trail.
 */
import type { paymentsMethods } from '../../../shared/rpc/payments';
import { toListing } from '../../payments/listing';
import { type Handlers, RpcError } from '../dispatcher';

export const paymentsHandlers: Handlers<keyof typeof paymentsMethods> = {
  'payments.list': async (_input, { shop }) => ({
    channels: (await shop.payments.list()).map(toListing),
    publicBase: shop.payments.publicBase(),
    notifyUnreachable: shop.payments.notifyUnreachable(),
  }),
  'payments.configure': async (input, { shop, actor }) => {
    const view = await shop.payments.configure(
      input.channel,
      { settings: input.settings, ...(input.enabled === undefined ? {} : { enabled: input.enabled }) },
      actor,
    );
    return { channel: toListing(view) };
  },
  'payments.setEnabled': async (input, { shop, actor }) => ({
    channel: toListing(await shop.payments.setEnabled(input.channel, input.enabled, actor)),
  }),
  'payments.remove': async (input, { shop, actor }) => {
    const removed = await shop.payments.remove(input.channel, actor);
    if (!removed) throw new RpcError('channel_not_configured', `the ${input.channel} channel is not configured`);
    return { removed };
  },
  'payments.test': (input, { shop }) => shop.payments.selfCheck(input.channel),
};
