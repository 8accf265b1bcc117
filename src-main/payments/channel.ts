/**
 * The one interface every payment channel implements (epay, Alipay, WeChat Pay, Stripe): make a
 * checkout for an order, verify and parse a notification, query a payment's state, optionally refund,
 * and check its own settings without the network. A channel only speaks its provider's protocol; what a
 * payment does to an order (the amount check, one delivery, the trade number recorded once,
 * `needs_review` when in doubt) is decided in one place, the engine's `pay` (see records.ts).
 *
 * A channel never sees the database or the vault: it gets its settings (secrets opened) and a fetch.
 */
import type { ChannelName, ChannelSelfCheck } from '../../shared/payments';

/** What a channel needs to know about the order it takes a payment for. */
export interface ChannelOrder {
  /** OnceKey's order id: the merchant's trade number at every channel (`out_trade_no`, `client_reference_id`). */
  readonly id: string;
  /** Minor units of `currency`: the only amount a channel ever asks for. */
  readonly amount: number;
  readonly currency: string;
  /** What the buyer sees at the gateway (the product's name). */
  readonly subject: string;
  readonly quantity: number;
  readonly email: string;
  /** Unix ms: the hold ends, the checkout should not outlive it. */
  readonly expiresAt: number;
}

export interface CheckoutUrls {
  /** Where the gateway sends its notifications: `<shop>/api/v1/payments/<channel>/notify`. */
  readonly notifyUrl: string;
  /** Where the buyer's browser comes back to after paying (it triggers a query, never a delivery by itself). */
  readonly returnUrl: string;
  /** The buyer's address, for gateways that ask for it (epay mapi `clientip`). */
  readonly clientIp: string;
}

/** A checkout as the gateway made it. */
export interface NewCheckout {
  readonly method: string;
  readonly redirectUrl?: string;
  readonly qrCode?: string;
  /** The gateway's own id for this payment when it gives one now (a Stripe Checkout Session id). */
  readonly reference?: string;
}

/** A notification as it arrived, before anything trusted it. */
export interface IncomingNotification {
  readonly method: string;
  /** The query string's parameters (the first value of each). */
  readonly query: Readonly<Record<string, string>>;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly contentType: string;
  /** The body's exact bytes: signatures cover them. */
  readonly rawBody: Buffer;
}

/** A payment the gateway vouches for (a verified notification or a query's answer). */
export interface GatewayPayment {
  readonly orderId: string;
  /** The gateway's trade number: recorded once, with the payment's effect. */
  readonly tradeNo: string;
  /** Minor units. */
  readonly amount: number;
  readonly currency: string;
}

/** The state of a payment at the gateway. */
export type GatewayState = 'paid' | 'pending' | 'closed' | 'refunded' | 'unknown';

/** A verified notification: a payment that succeeded, or an event that changes nothing (a closed trade). */
export type VerifiedNotification =
  | { readonly valid: false; readonly reason: string }
  | {
      readonly valid: true;
      readonly state: GatewayState;
      readonly payment: GatewayPayment | null;
      readonly orderId: string | null;
    };

export interface QueryResult {
  readonly state: GatewayState;
  /** Set when state is `paid`. */
  readonly payment: GatewayPayment | null;
  /** One line about what the gateway said (for the order's timeline; never a secret). */
  readonly detail: string;
}

/** What the notify route answers, in the gateway's own terms. */
export interface NotifyAnswer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

export interface RefundRequest {
  readonly orderId: string;
  readonly tradeNo: string;
  readonly amount: number;
  readonly currency: string;
  /** Our id for this refund (idempotent at the gateway). */
  readonly refundId: string;
  readonly reason: string;
}

export interface PaymentChannel {
  readonly name: ChannelName;
  readonly methods: readonly string[];
  /** Currencies the channel takes; an order in another currency cannot be paid through it. */
  readonly currencies: readonly string[] | 'any';
  createCheckout(order: ChannelOrder, method: string, urls: CheckoutUrls): Promise<NewCheckout>;
  /** Checks the signature first; only a valid notification is parsed further. */
  verifyNotification(notification: IncomingNotification, nowMs: number): VerifiedNotification | Promise<VerifiedNotification>;
  /** The answer a gateway takes as "delivered" (ok) or as "try again / rejected" (not ok). */
  answer(ok: boolean): NotifyAnswer;
  /** Asks the gateway for the payment of `order` (by our order id, or by `reference` when the gateway gave one). */
  query(order: { readonly id: string; readonly reference: string | null }): Promise<QueryResult>;
  refund?(request: RefundRequest): Promise<{ readonly refundId: string; readonly state: 'done' | 'pending' }>;
  /** Signs and verifies a sample with the configured keys: catches a wrong or mismatched key with no network. */
  selfCheck(): ChannelSelfCheck;
}

/** A gateway answered something we cannot use, or could not be reached. */
export class ChannelError extends Error {
  override readonly name = 'ChannelError';
}

/** Dependencies a channel may use: the network (tests point it at fake gateways on 127.0.0.1). */
export interface ChannelDeps {
  readonly fetch: typeof fetch;
  /** Unix ms. */
  readonly clock: () => number;
  /** Per request to a gateway. */
  readonly timeoutMs: number;
}

/** The parameters of a form body or a query string, the first value of each name. */
export function formParams(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(text)) if (!(name in out)) out[name] = value;
  return out;
}

/** A notification's parameters: its form body when it has one, else its query string. */
export function notificationParams(n: IncomingNotification): Record<string, string> {
  const form = n.contentType.toLowerCase().startsWith('application/x-www-form-urlencoded');
  if (n.method === 'POST' && form && n.rawBody.length > 0) return formParams(n.rawBody.toString('utf8'));
  if (n.method === 'POST' && n.rawBody.length > 0 && Object.keys(n.query).length === 0) {
    // Some gateways post a form without saying so.
    return formParams(n.rawBody.toString('utf8'));
  }
  return { ...n.query };
}

/** `k=v` pairs sorted by name (ASCII), empty values and the named exclusions left out, joined with `&`. */
export function sortedSignString(params: Readonly<Record<string, string>>, exclude: readonly string[]): string {
  return Object.keys(params)
    .filter((name) => !exclude.includes(name) && params[name] !== '' && params[name] !== undefined)
    .sort()
    .map((name) => `${name}=${params[name]}`)
    .join('&');
}

/** A PEM from what an owner pastes: a whole PEM, or only its base64 body (as provider consoles show keys). */
export function toPem(text: string, kind: 'PRIVATE KEY' | 'PUBLIC KEY'): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return trimmed;
  const body = trimmed.replace(/\s+/g, '');
  return `-----BEGIN ${kind}-----\n${body.match(/.{1,64}/g)?.join('\n') ?? body}\n-----END ${kind}-----`;
}

/** Fetches with a deadline; a gateway that does not answer in time is an error, never a hang. */
export async function fetchWithTimeout(deps: ChannelDeps, url: string, init: RequestInit): Promise<Response> {
  try {
    return await deps.fetch(url, { ...init, signal: AbortSignal.timeout(deps.timeoutMs) });
  } catch (error) {
    const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer in ${deps.timeoutMs} ms` : 'unreachable';
    throw new ChannelError(`the gateway at ${new URL(url).origin} is ${reason}`);
  }
}

/** The plain-text answer epay and Alipay expect: `success` when taken, else `fail` (they then retry). */
export function plainTextAnswer(ok: boolean): NotifyAnswer {
  return ok
    ? { status: 200, contentType: 'text/plain; charset=utf-8', body: 'success' }
    : { status: 400, contentType: 'text/plain; charset=utf-8', body: 'fail' };
}

/** A check that passed or failed, for selfCheck reports. */
export function check(name: string, fn: () => string): ChannelSelfCheck['checks'][number] {
  try {
    return { name, ok: true, detail: fn() };
  } catch (error) {
    return { name, ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}

export function selfCheckReport(checks: ChannelSelfCheck['checks']): ChannelSelfCheck {
  return { ok: checks.every((c) => c.ok), checks };
}
