/**
 * Makes a channel from its stored settings. The provider SDKs (alipay-sdk, stripe) load on first use, so
 * a shop that never configures them, and every CLI command, starts without them.
 */
import type { ChannelName, ChannelSettings } from '../../shared/payments';
import type { ChannelDeps, PaymentChannel } from './channel';
import { EpayChannel } from './epay';

export async function createChannel<C extends ChannelName>(
  name: C,
  settings: ChannelSettings[C],
  deps: ChannelDeps,
): Promise<PaymentChannel> {
  switch (name) {
    case 'epay':
      return new EpayChannel(settings as ChannelSettings['epay'], deps);
    case 'alipay': {
      const { AlipayChannel } = await import('./alipay');
      return new AlipayChannel(settings as ChannelSettings['alipay'], deps);
    }
    case 'wechatpay': {
      const { WechatpayChannel } = await import('./wechatpay');
      return new WechatpayChannel(settings as ChannelSettings['wechatpay'], deps);
    }
    case 'stripe': {
      const { StripeChannel } = await import('./stripe');
      return new StripeChannel(settings as ChannelSettings['stripe'], deps);
    }
  }
}
