/**
 * How each payment channel's settings appear as a form, and how a draft becomes the settings the main
 * process takes. The fields are the channel's zod schema's (shared/payments.ts; a test checks the two
 * name the same fields); a secret the listing says is set may be left empty to keep it.
 */
import { CHANNEL_SETTINGS, SECRET_FIELDS, type ChannelListing, type ChannelName } from '../../../shared/payments';

export type FieldKind = 'text' | 'secret' | 'pem' | 'choice' | 'methods' | 'methodList';

export interface FormField {
  readonly name: string;
  readonly kind: FieldKind;
  /** `choice` and `methods`: the allowed values. */
  readonly options?: readonly string[];
  /** Shown only when another field has this value (epay's MD5 key or RSA key pair). */
  readonly when?: { readonly field: string; readonly value: string };
}

export const PAYMENT_FORMS: Readonly<Record<ChannelName, readonly FormField[]>> = {
  epay: [
    { name: 'gateway', kind: 'text' },
    { name: 'pid', kind: 'text' },
    { name: 'signType', kind: 'choice', options: ['MD5', 'RSA'] },
    { name: 'key', kind: 'secret', when: { field: 'signType', value: 'MD5' } },
    { name: 'privateKey', kind: 'pem', when: { field: 'signType', value: 'RSA' } },
    { name: 'platformPublicKey', kind: 'pem', when: { field: 'signType', value: 'RSA' } },
    { name: 'mode', kind: 'choice', options: ['submit', 'mapi'] },
    { name: 'methods', kind: 'methodList' },
  ],
  alipay: [
    { name: 'appId', kind: 'text' },
    { name: 'privateKey', kind: 'pem' },
    { name: 'alipayPublicKey', kind: 'pem' },
    { name: 'gateway', kind: 'text' },
    { name: 'methods', kind: 'methods', options: ['precreate', 'page'] },
  ],
  wechatpay: [
    { name: 'mchid', kind: 'text' },
    { name: 'appid', kind: 'text' },
    { name: 'serialNo', kind: 'text' },
    { name: 'privateKey', kind: 'pem' },
    { name: 'apiV3Key', kind: 'secret' },
    { name: 'platformPublicKey', kind: 'pem' },
    { name: 'platformPublicKeyId', kind: 'text' },
    { name: 'gateway', kind: 'text' },
    { name: 'methods', kind: 'methods', options: ['native'] },
  ],
  stripe: [
    { name: 'secretKey', kind: 'secret' },
    { name: 'webhookSecret', kind: 'secret' },
    { name: 'gateway', kind: 'text' },
    { name: 'methods', kind: 'methods', options: ['card'] },
  ],
};

/** A form's values: text for every field, the chosen methods as a list. */
export type Draft = Record<string, string | readonly string[]>;

export const isSecret = (channel: ChannelName, field: string): boolean =>
  (SECRET_FIELDS[channel] as readonly string[]).includes(field);

/** The form for a channel, filled from its listing (secrets empty), or from the schema's defaults. */
export function draftOf(channel: ChannelName, listing: ChannelListing | undefined): Draft {
  const draft: Draft = {};
  for (const field of PAYMENT_FORMS[channel]) {
    const stored = listing?.settings[field.name];
    if (field.kind === 'methods') {
      draft[field.name] = Array.isArray(stored) ? stored.map(String) : [...(field.options ?? [])];
    } else if (field.kind === 'methodList') {
      draft[field.name] = Array.isArray(stored) ? stored.map(String).join(', ') : 'alipay, wxpay';
    } else if (field.kind === 'choice') {
      draft[field.name] = typeof stored === 'string' ? stored : (field.options?.[0] ?? '');
    } else {
      draft[field.name] = typeof stored === 'string' ? stored : '';
    }
  }
  return draft;
}

export function visible(field: FormField, draft: Draft): boolean {
  return !field.when || draft[field.when.field] === field.when.value;
}

/**
 * The settings to send: every visible field with a value; a secret left empty is left out (the stored
 * one is kept); an empty optional field is left out (the schema's default applies). `methodList` is
 * typed as words separated by commas or spaces.
 */
export function settingsOf(channel: ChannelName, draft: Draft): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of PAYMENT_FORMS[channel]) {
    if (!visible(field, draft)) continue;
    const value = draft[field.name];
    if (typeof value !== 'string') {
      if (value !== undefined && value.length > 0) out[field.name] = [...value];
    } else {
      const text = value.trim();
      if (field.kind === 'methodList') {
        const words = text.split(/[\s,，]+/).filter(Boolean);
        if (words.length > 0) out[field.name] = words;
      } else if (text !== '') out[field.name] = text;
    }
  }
  return out;
}

/**
 * The draft's problems by field, from the channel's own schema, before anything is sent. A secret that is
 * set already and left empty is not a problem: it is kept.
 */
export function problemsOf(channel: ChannelName, draft: Draft, listing: ChannelListing | undefined): Record<string, string> {
  const settings = settingsOf(channel, draft);
  const result = CHANNEL_SETTINGS[channel].safeParse(settings);
  const problems: Record<string, string> = {};
  if (result.success) return problems;
  for (const issue of result.error.issues) {
    const field = String(issue.path[0] ?? '');
    if (isSecret(channel, field) && settings[field] === undefined && listing?.fields.includes(field)) continue;
    problems[field] ??= issue.message;
  }
  return problems;
}
