/**
 * The Settings page's Payments section: the shop's payment channels (epay, Alipay, WeChat Pay, Stripe),
 * configured, tested with a signed self-check that needs no network, switched off and on, or removed.
 * Secrets are write-only: a listing names the fields that are set and never carries a value; a secret
 * left out of `payments.configure` keeps its stored value.
 */
import { z } from 'zod';
import { ChannelListing, ChannelName, ChannelSelfCheck } from '../payments';
import { method } from './method';

export const PaymentsView = z.object({
  channels: z.array(ChannelListing),
  /** The shop's address as gateways reach it (the public address, else the one it listens on). */
  publicBase: z.string(),
  /** True when that address names this PC only: no gateway on the internet can notify it. */
  notifyUnreachable: z.boolean(),
});
export type PaymentsView = z.infer<typeof PaymentsView>;

const ChannelResult = z.object({ channel: ChannelListing });

export const paymentsMethods = {
  'payments.list': method({
    summary: 'the configured payment channels (no secrets), the notify address and whether gateways can reach it',
    writes: false,
    input: z.strictObject({}),
    output: PaymentsView,
  }),
  'payments.configure': method({
    summary: "save a channel's settings (validated by the channel's schema; a secret left out keeps its stored value)",
    writes: true,
    input: z.strictObject({
      channel: ChannelName,
      settings: z.record(z.string(), z.unknown()),
      enabled: z.boolean().optional(),
    }),
    output: ChannelResult,
  }),
  'payments.setEnabled': method({
    summary: 'switch a channel on or off (a switched-off channel still answers notifications and queries)',
    writes: true,
    input: z.strictObject({ channel: ChannelName, enabled: z.boolean() }),
    output: ChannelResult,
  }),
  'payments.remove': method({
    summary: 'forget a channel and its sealed secrets (its past payments stay)',
    writes: true,
    input: z.strictObject({ channel: ChannelName }),
    output: z.object({ removed: z.boolean() }),
  }),
  'payments.test': method({
    summary: "a channel's signed self-check with its stored keys; needs no network",
    writes: false,
    input: z.strictObject({ channel: ChannelName }),
    output: ChannelSelfCheck,
  }),
} as const;
