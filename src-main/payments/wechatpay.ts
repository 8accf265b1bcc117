/**
 * The WeChat Pay channel (微信支付 API v3, Native): `POST /v3/pay/transactions/native` gives a
 * `code_url` the buyer scans. Written from WeChat Pay's published v3 protocol with node:crypto (the
 * provider's own Node SDK is not on the npm registry; the community ones wrap exactly these steps):
 *
 * - every request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=...,nonce_str=...,
 *   signature=...,timestamp=...,serial_no=...`, the signature SHA256withRSA under the merchant's key over
 *   `METHOD\nURL\ntimestamp\nnonce\nbody\n`;
 * - every answer and notification is verified with the platform public key over
 *   `timestamp\nnonce\nbody\n` (`Wechatpay-Signature`, `Wechatpay-Serial` must name that key), and a
 *   notification older or newer than 300 s is refused;
 * - a notification's `resource` is decrypted with AEAD_AES_256_GCM under the APIv3 key.
 *
 * Amounts are fen (integers), as OnceKey keeps them. A notification is answered 204 when taken, and a
 * JSON `{"code":"FAIL"}` with 400 when not (WeChat Pay then retries).
 */
import {
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSign,
  createVerify,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import type { WechatpaySettings } from '../../shared/payments';
import {
  ChannelError,
  check,
  fetchWithTimeout,
  selfCheckReport,
  toPem,
  type ChannelDeps,
  type ChannelOrder,
  type CheckoutUrls,
  type GatewayPayment,
  type GatewayState,
  type IncomingNotification,
  type NewCheckout,
  type NotifyAnswer,
  type PaymentChannel,
  type QueryResult,
  type RefundRequest,
  type VerifiedNotification,
} from './channel';

/** A notification this far from our clock (seconds) is refused, as WeChat Pay's documentation asks. */
export const NOTIFY_WINDOW_S = 300;

type Json = Record<string, unknown>;

/** The message a WeChat Pay v3 request signature covers. */
export function wechatRequestMessage(method: string, url: string, timestamp: string, nonce: string, body: string): string {
  return `${method}\n${url}\n${timestamp}\n${nonce}\n${body}\n`;
}

/** The message an answer's or a notification's signature covers. */
export function wechatResponseMessage(timestamp: string, nonce: string, body: string): string {
  return `${timestamp}\n${nonce}\n${body}\n`;
}

/** Decrypts a notification's `resource` (AEAD_AES_256_GCM: base64 of ciphertext and 16-byte tag). */
export function decryptResource(
  apiV3Key: string,
  resource: { nonce: string; ciphertext: string; associated_data?: string },
): string {
  const data = Buffer.from(resource.ciphertext, 'base64');
  if (data.length < 17) throw new ChannelError('the resource is too short to hold a tag');
  const decipher = createDecipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(resource.nonce, 'utf8'));
  decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
  decipher.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
}

/** Unix ms as RFC 3339 in Beijing time, as WeChat Pay writes `time_expire`. */
export function beijingRfc3339(ms: number): string {
  return `${new Date(ms + 8 * 3600_000).toISOString().slice(0, 19)}+08:00`;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '');

function stateOf(tradeState: string): GatewayState {
  switch (tradeState) {
    case 'SUCCESS':
      return 'paid';
    case 'NOTPAY':
    case 'USERPAYING':
      return 'pending';
    case 'CLOSED':
    case 'REVOKED':
    case 'PAYERROR':
      return 'closed';
    case 'REFUND':
      return 'refunded';
    default:
      return 'unknown';
  }
}

export class WechatpayChannel implements PaymentChannel {
  readonly name = 'wechatpay' as const;
  readonly currencies = ['CNY'];
  readonly methods: readonly string[];
  private readonly merchantKey: KeyObject;
  private readonly platformKey: KeyObject;

  constructor(
    private readonly settings: WechatpaySettings,
    private readonly deps: ChannelDeps,
  ) {
    this.methods = settings.methods;
    this.merchantKey = createPrivateKey(toPem(settings.privateKey, 'PRIVATE KEY'));
    this.platformKey = createPublicKey(toPem(settings.platformPublicKey, 'PUBLIC KEY'));
  }

  /** The `Authorization` header of a request. */
  authorization(method: string, url: string, body: string, timestamp: string, nonce: string): string {
    const signature = createSign('RSA-SHA256')
      .update(wechatRequestMessage(method, url, timestamp, nonce, body), 'utf8')
      .sign(this.merchantKey, 'base64');
    return (
      `WECHATPAY2-SHA256-RSA2048 mchid="${this.settings.mchid}",nonce_str="${nonce}",signature="${signature}",` +
      `timestamp="${timestamp}",serial_no="${this.settings.serialNo}"`
    );
  }

  /** Whether headers and body carry the platform key's signature (its serial named, the time in the window). */
  verifySigned(headers: Readonly<Record<string, string | undefined>>, body: string, nowMs: number): string | null {
    const timestamp = headers['wechatpay-timestamp'] ?? '';
    const nonce = headers['wechatpay-nonce'] ?? '';
    const signature = headers['wechatpay-signature'] ?? '';
    const serial = headers['wechatpay-serial'] ?? '';
    if (!/^\d{1,12}$/.test(timestamp) || nonce === '' || signature === '') return 'signature headers missing';
    if (serial !== this.settings.platformPublicKeyId)
      return `Wechatpay-Serial ${serial.slice(0, 40)} is not the configured platform key`;
    if (Math.abs(nowMs / 1000 - Number(timestamp)) > NOTIFY_WINDOW_S) return 'timestamp outside the 300 s window';
    try {
      const ok = createVerify('RSA-SHA256')
        .update(wechatResponseMessage(timestamp, nonce, body), 'utf8')
        .verify(this.platformKey, signature, 'base64');
      return ok ? null : 'bad signature';
    } catch {
      return 'bad signature';
    }
  }

  /** One signed request; the answer's signature is checked before it is read. */
  private async request(method: 'GET' | 'POST', path: string, body?: Json): Promise<{ status: number; json: Json }> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const timestamp = String(Math.floor(this.deps.clock() / 1000));
    const nonce = randomBytes(16).toString('hex');
    const response = await fetchWithTimeout(this.deps, `${this.settings.gateway}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        'content-type': 'application/json',
        authorization: this.authorization(method, path, payload, timestamp, nonce),
      },
      ...(body === undefined ? {} : { body: payload }),
    });
    const raw = await response.text();
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => (headers[key] = value));
    const problem = this.verifySigned(headers, raw, this.deps.clock());
    if (problem) throw new ChannelError(`wechatpay ${path}: the answer failed verification (${problem})`);
    let json: Json = {};
    try {
      json = raw === '' ? {} : (JSON.parse(raw) as Json);
    } catch {
      throw new ChannelError(`wechatpay ${path} answered something that is not JSON`);
    }
    return { status: response.status, json };
  }

  async createCheckout(order: ChannelOrder, method: string, urls: CheckoutUrls): Promise<NewCheckout> {
    const { status, json } = await this.request('POST', '/v3/pay/transactions/native', {
      appid: this.settings.appid,
      mchid: this.settings.mchid,
      description: order.subject.slice(0, 127),
      out_trade_no: order.id,
      time_expire: beijingRfc3339(order.expiresAt),
      notify_url: urls.notifyUrl,
      amount: { total: order.amount, currency: 'CNY' },
    });
    if (status !== 200 || text(json.code_url) === '')
      throw new ChannelError(`wechatpay refused the order: ${text(json.message) || text(json.code) || `HTTP ${status}`}`);
    return { method, qrCode: text(json.code_url) };
  }

  /** A transaction (decrypted notification, or a query's answer) as a payment for `orderId`. */
  private transaction(tx: Json, orderId: string): { state: GatewayState; payment: GatewayPayment | null } {
    if (text(tx.appid) !== this.settings.appid || text(tx.mchid) !== this.settings.mchid)
      throw new ChannelError('the transaction is for another appid or mchid');
    if (text(tx.out_trade_no) !== orderId) throw new ChannelError('the transaction is about another order');
    const state = stateOf(text(tx.trade_state));
    if (state !== 'paid') return { state, payment: null };
    const amount = tx.amount as Json | undefined;
    const total = amount?.total;
    const tradeNo = text(tx.transaction_id);
    if (typeof total !== 'number' || !Number.isSafeInteger(total) || tradeNo === '')
      throw new ChannelError('a paid transaction without transaction_id or amount.total');
    return { state, payment: { orderId, tradeNo, amount: total, currency: text(amount?.currency) || 'CNY' } };
  }

  verifyNotification(notification: IncomingNotification, nowMs: number): VerifiedNotification {
    const body = notification.rawBody.toString('utf8');
    const problem = this.verifySigned(notification.headers, body, nowMs);
    if (problem) return { valid: false, reason: problem };
    try {
      const event = JSON.parse(body) as Json;
      const resource = event.resource as { algorithm?: string; nonce: string; ciphertext: string; associated_data?: string };
      if (resource?.algorithm !== 'AEAD_AES_256_GCM') return { valid: false, reason: 'resource is not AEAD_AES_256_GCM' };
      const tx = JSON.parse(decryptResource(this.settings.apiV3Key, resource)) as Json;
      const orderId = text(tx.out_trade_no);
      const { state, payment } = this.transaction(tx, orderId);
      return { valid: true, state, payment, orderId };
    } catch (error) {
      return { valid: false, reason: `unreadable notification: ${(error as Error).message}`.slice(0, 200) };
    }
  }

  answer(ok: boolean): NotifyAnswer {
    return ok
      ? { status: 204, contentType: 'application/json; charset=utf-8', body: '' }
      : { status: 400, contentType: 'application/json; charset=utf-8', body: '{"code":"FAIL","message":"rejected"}' };
  }

  async query(order: { readonly id: string }): Promise<QueryResult> {
    const path = `/v3/pay/transactions/out-trade-no/${encodeURIComponent(order.id)}?mchid=${encodeURIComponent(this.settings.mchid)}`;
    const { status, json } = await this.request('GET', path);
    if (status === 404) return { state: 'unknown', payment: null, detail: `wechatpay: ${text(json.code) || 'ORDER_NOT_EXIST'}` };
    if (status !== 200) throw new ChannelError(`wechatpay query: ${text(json.message) || `HTTP ${status}`}`);
    const { state, payment } = this.transaction(json, order.id);
    return {
      state,
      payment,
      detail: `wechatpay: ${text(json.trade_state)}${payment ? `, transaction_id ${payment.tradeNo}` : ''}`,
    };
  }

  async refund(request: RefundRequest): Promise<{ refundId: string; state: 'done' | 'pending' }> {
    const { status, json } = await this.request('POST', '/v3/refund/domestic/refunds', {
      transaction_id: request.tradeNo,
      out_refund_no: request.refundId,
      reason: request.reason.slice(0, 80),
      amount: { refund: request.amount, total: request.amount, currency: 'CNY' },
    });
    const state = text(json.status);
    if (status !== 200 || (state !== 'SUCCESS' && state !== 'PROCESSING'))
      throw new ChannelError(`wechatpay refused the refund: ${text(json.message) || state || `HTTP ${status}`}`);
    return { refundId: request.refundId, state: state === 'SUCCESS' ? 'done' : 'pending' };
  }

  selfCheck() {
    return selfCheckReport([
      check('merchant private key', () => {
        if (this.merchantKey.asymmetricKeyType !== 'rsa') throw new Error('the merchant key is not RSA');
        return `RSA, ${this.merchantKey.asymmetricKeyDetails?.modulusLength ?? 0} bits`;
      }),
      check('request signature', () => {
        const header = this.authorization('GET', '/v3/selfcheck', '', '1700000000', 'selfcheck');
        const signature = /signature="([^"]+)"/.exec(header)?.[1] ?? '';
        const own = createPublicKey(this.merchantKey);
        const ok = createVerify('RSA-SHA256')
          .update(wechatRequestMessage('GET', '/v3/selfcheck', '1700000000', 'selfcheck', ''), 'utf8')
          .verify(own, signature, 'base64');
        if (!ok) throw new Error('a sample request signed with the key does not verify');
        return 'a sample request signed with the merchant key verifies (SHA256withRSA)';
      }),
      check('APIv3 key', () => {
        if (Buffer.byteLength(this.settings.apiV3Key, 'utf8') !== 32) throw new Error('the APIv3 key is not 32 bytes');
        return '32 bytes (AES-256-GCM)';
      }),
      check('platform public key', () => {
        const own = createPublicKey(this.merchantKey).export({ type: 'spki', format: 'der' });
        if (this.platformKey.export({ type: 'spki', format: 'der' }).equals(own))
          throw new Error("this is the merchant's own public key; paste WeChat Pay's platform public key (微信支付公钥)");
        return `${this.settings.platformPublicKeyId}, RSA ${this.platformKey.asymmetricKeyDetails?.modulusLength ?? 0} bits`;
      }),
    ]);
  }
}
