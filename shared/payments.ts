/**
 * Payment channels as the wire contract names them (../shared/spec/http-api.md, "Payment channels"): the
 * channel names, each channel's settings (what the owner enters in Settings, secrets included, as the
 * admin `PUT` takes them), which of those fields are secrets, and the buyer-side checkout shapes.
 *
 * Imports only zod, so the server validates with these schemas and the renderer builds its forms from
 * them. A secret is write-only: no endpoint ever returns one; a listing names the fields that are set.
 */
import { z } from 'zod';

/** The channels OnceKey speaks, in the order the buyer page offers them. */
export const CHANNEL_NAMES = ['epay', 'alipay', 'wechatpay', 'stripe'] as const;
export const ChannelName = z.enum(CHANNEL_NAMES);
export type ChannelName = z.infer<typeof ChannelName>;

export function isChannelName(name: string): name is ChannelName {
  return (CHANNEL_NAMES as readonly string[]).includes(name);
}

const BaseUrl = z
  .url({ protocol: /^https?$/, error: 'a gateway address is an http:// or https:// URL' })
  .max(500)
  .transform((url) => url.replace(/\/+$/, ''));
const Pem = (what: string) => z.string().trim().min(64, `${what}: paste the whole key (PEM, or its base64 body)`).max(20_000);
const Text = z.string().trim().min(1).max(200);

/** epay (易支付): MD5 with the merchant key, or (newer servers, 彩虹易支付 V2) RSA with a key pair. */
export const EpaySettings = z
  .strictObject({
    gateway: BaseUrl.describe('the epay site, e.g. https://pay.example.com'),
    pid: z
      .string()
      .trim()
      .regex(/^\w{1,64}$/, 'pid is the merchant id (letters and digits)'),
    signType: z.enum(['MD5', 'RSA']).default('MD5'),
    key: z.string().trim().min(8, 'key: the MD5 merchant key').max(200).optional(),
    privateKey: Pem('privateKey').optional(),
    platformPublicKey: Pem('platformPublicKey').optional(),
    /** `submit` redirects the buyer to submit.php; `mapi` asks mapi.php for a pay URL or a QR code. */
    mode: z.enum(['submit', 'mapi']).default('submit'),
    methods: z
      .array(z.string().regex(/^[a-z]{2,20}$/, 'a method is an epay type such as alipay or wxpay'))
      .min(1)
      .max(10)
      .default(['alipay', 'wxpay']),
  })
  .superRefine((value, ctx) => {
    if (value.signType === 'MD5' && value.key === undefined)
      ctx.addIssue({ code: 'custom', path: ['key'], message: 'key is required with signType MD5' });
    if (value.signType === 'RSA') {
      for (const field of ['privateKey', 'platformPublicKey'] as const)
        if (value[field] === undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: `${field} is required with signType RSA` });
    }
  });
export type EpaySettings = z.output<typeof EpaySettings>;

/** Alipay open platform: 当面付 (precreate, a QR code) and 电脑网站支付 (page pay, a redirect), RSA2. */
export const AlipaySettings = z.strictObject({
  appId: z
    .string()
    .trim()
    .regex(/^\d{8,32}$/, 'appId is the digits of the Alipay application id'),
  privateKey: Pem('privateKey'),
  alipayPublicKey: Pem('alipayPublicKey'),
  gateway: BaseUrl.default('https://openapi.alipay.com/gateway.do'),
  methods: z
    .array(z.enum(['precreate', 'page']))
    .min(1)
    .default(['precreate', 'page']),
});
export type AlipaySettings = z.output<typeof AlipaySettings>;

/** WeChat Pay API v3, Native (a code_url QR code). */
export const WechatpaySettings = z.strictObject({
  mchid: z
    .string()
    .trim()
    .regex(/^\d{6,32}$/, 'mchid is the digits of the merchant id'),
  appid: z
    .string()
    .trim()
    .regex(/^\w{6,64}$/, 'appid is the app id bound to the merchant'),
  serialNo: z
    .string()
    .trim()
    .regex(/^[0-9A-Fa-f]{8,64}$/, "serialNo is the merchant certificate's serial number (hex)"),
  privateKey: Pem('privateKey'),
  apiV3Key: z.string().length(32, 'apiV3Key is the 32-character APIv3 key'),
  platformPublicKey: Pem('platformPublicKey'),
  platformPublicKeyId: Text.describe('the Wechatpay-Serial of that key (PUB_KEY_ID_... or a certificate serial)'),
  gateway: BaseUrl.default('https://api.mch.weixin.qq.com'),
  methods: z
    .array(z.enum(['native']))
    .min(1)
    .default(['native']),
});
export type WechatpaySettings = z.output<typeof WechatpaySettings>;

/** Stripe Checkout Sessions; the webhook's endpoint secret verifies `checkout.session.completed`. */
export const StripeSettings = z.strictObject({
  secretKey: z
    .string()
    .trim()
    .regex(/^(sk|rk)_(test|live)_\w{8,}$/, 'secretKey is a Stripe secret key (sk_live_..., sk_test_... or rk_...)'),
  webhookSecret: z
    .string()
    .trim()
    .regex(/^whsec_\w{8,}$/, "webhookSecret is the webhook endpoint's signing secret (whsec_...)"),
  gateway: BaseUrl.default('https://api.stripe.com'),
  methods: z
    .array(z.enum(['card']))
    .min(1)
    .default(['card']),
});
export type StripeSettings = z.output<typeof StripeSettings>;

/** Each channel's settings schema, as the admin `PUT` validates it. */
export const CHANNEL_SETTINGS = {
  epay: EpaySettings,
  alipay: AlipaySettings,
  wechatpay: WechatpaySettings,
  stripe: StripeSettings,
} as const;

export type ChannelSettings = {
  epay: EpaySettings;
  alipay: AlipaySettings;
  wechatpay: WechatpaySettings;
  stripe: StripeSettings;
};

/** Fields that are secrets: stored sealed by the vault, never returned, never logged. */
export const SECRET_FIELDS: { readonly [C in ChannelName]: readonly (keyof ChannelSettings[C])[] } = {
  epay: ['key', 'privateKey'],
  alipay: ['privateKey'],
  wechatpay: ['privateKey', 'apiV3Key'],
  stripe: ['secretKey', 'webhookSecret'],
};

export function isSecretField(channel: ChannelName, field: string): boolean {
  return (SECRET_FIELDS[channel] as readonly string[]).includes(field);
}

/** Every field a channel's settings may hold, in the order a form shows them. */
export function channelFields(channel: ChannelName): string[] {
  return Object.keys(CHANNEL_SETTINGS[channel].shape);
}

/** How a channel looks to the owner: never a secret's value. */
export const ChannelListing = z
  .object({
    name: ChannelName,
    enabled: z.boolean(),
    configured: z.literal(true),
    fields: z.array(z.string()).describe('the settings that are set (secrets by name only)'),
    methods: z.array(z.string()),
    settings: z.record(z.string(), z.unknown()).describe('the values of the fields that are not secret'),
    notifyUrl: z.string().describe('the address to give the gateway for its notifications'),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'PaymentChannel' });
export type ChannelListing = z.infer<typeof ChannelListing>;

/** The buyer's view of an enabled channel. */
export const PublicChannel = z.object({ name: ChannelName, methods: z.array(z.string()) });
export type PublicChannel = z.infer<typeof PublicChannel>;

/** `POST /api/v1/orders/{id}/checkout` body. */
export const CheckoutBody = z.strictObject({
  channel: z.string().min(1).max(40),
  method: z.string().min(1).max(40).optional(),
});
export type CheckoutBody = z.infer<typeof CheckoutBody>;

/** A payment the buyer can make for an order: a page to go to or a text to show as a QR code. */
export const Checkout = z
  .object({
    channel: ChannelName,
    method: z.string(),
    amount: z.int().min(0).describe("the order's own amount, minor units"),
    currency: z.string(),
    redirectUrl: z.string().optional().describe('send the buyer here'),
    qrCode: z.string().optional().describe('the text to encode as a QR code (a code_url, a qr_code)'),
    expiresAt: z.iso.datetime(),
  })
  .meta({ id: 'Checkout' });
export type Checkout = z.infer<typeof Checkout>;

/** What a signed self-check of a channel's settings found (no network). */
export const ChannelSelfCheck = z.object({
  ok: z.boolean(),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
});
export type ChannelSelfCheck = z.infer<typeof ChannelSelfCheck>;
