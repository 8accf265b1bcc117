/**
 * Handlers for shared/rpc/payments.ts: the same PaymentService the admin HTTP routes use
 * (src-main/http/payment-admin-routes.ts), with the caller named in the audit trail.
 */
import type { paymentsMethods } from '../../../shared/rpc/payments';
import { toListing } from '../../payments/listing';
import { type Handlers, RpcError } from '../dispatcher';

export const paymentsHandlers: Handlers<keyof typeof paymentsMethods> = {
  'payments.list': async (_input, { engine }) => ({
    channels: (await engine.payments.list()).map(toListing),
    publicBase: engine.payments.publicBase(),
    notifyUnreachable: engine.payments.notifyUnreachable(),
  }),
  'payments.configure': async (input, { engine, actor }) => {
    const view = await engine.payments.configure(
      input.channel,
      { settings: input.settings, ...(input.enabled === undefined ? {} : { enabled: input.enabled }) },
      actor,
    );
    return { channel: toListing(view) };
  },
  'payments.setEnabled': async (input, { engine, actor }) => ({
    channel: toListing(await engine.payments.setEnabled(input.channel, input.enabled, actor)),
  }),
  'payments.remove': async (input, { engine, actor }) => {
    const removed = await engine.payments.remove(input.channel, actor);
    if (!removed) throw new RpcError('channel_not_configured', `the ${input.channel} channel is not configured`);
    return { removed };
  },
  'payments.test': (input, { engine }) => engine.payments.selfCheck(input.channel),
};
