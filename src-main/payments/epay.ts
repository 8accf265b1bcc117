/**
 * 易支付 (epay), the protocol most Chinese card shops and aggregators speak, written from its published
 * merchant documentation (there is no official SDK):
 *
 * - Page pay: the buyer is sent to `<gateway>/submit.php?pid&type&out_trade_no&notify_url&return_url&name&money&sign&sign_type`.
 *   API pay (`mode: 'mapi'`): `POST <gateway>/mapi.php` with the same fields plus `clientip` and `device`
 *   answers JSON `{code: 1, payurl | qrcode | urlscheme}`.
 * - MD5 signing: every parameter but `sign`, `sign_type` and empty values, sorted by name, `k=v` joined by
 *   `&` (values not URL-encoded), the merchant key appended, MD5, lowercase hex.
 * - Notifications (GET query or POST form) carry `pid, trade_no, out_trade_no, type, name, money,
 *   trade_status, sign, sign_type`; the merchant answers the plain text `success`.
 * - Query: `GET <gateway>/api.php?act=order&pid&key&out_trade_no` → `{code: 1, status: 1 (paid), trade_no, money}`.
 *
 * The RSA variant (彩虹易支付 V2, `signType: 'RSA'`): SHA256withRSA over the same sorted string, signed
 * with the merchant's private key, verified with the platform's public key, a `timestamp` parameter,
 * and the V2 endpoints `api/pay/submit`, `api/pay/create`, `api/pay/query` and `api/pay/refund`, whose
 * answers are signed too (`code: 0` is success there).
 */
import { createHash, createPrivateKey, createPublicKey, createSign, createVerify, timingSafeEqual } from 'node:crypto';
import { formatMajorUnits, parseMajorUnits } from '../../shared/money';
import type { EpaySettings } from '../../shared/payments';
import {
  ChannelError,
  check,
  fetchWithTimeout,
  notificationParams,
  plainTextAnswer,
  selfCheckReport,
  sortedSignString,
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

type Params = Record<string, string>;

/** A JSON answer's field as text ('' for anything that is not a string or a number). */
const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '');

const EXCLUDED = ['sign', 'sign_type'];
/** epay's `name` is shown at the gateway; long names are refused by some servers. */
const NAME_MAX = 100;

/** epay's MD5 signature of `params` under `key`. */
export function epayMd5Sign(params: Readonly<Params>, key: string): string {
  return createHash('md5')
    .update(sortedSignString(params, EXCLUDED) + key, 'utf8')
    .digest('hex');
}

/** epay's RSA (V2) signature of `params`: base64 SHA256withRSA under the merchant's private key. */
export function epayRsaSign(params: Readonly<Params>, privateKeyPem: string): string {
  return createSign('RSA-SHA256').update(sortedSignString(params, EXCLUDED), 'utf8').sign(privateKeyPem, 'base64');
}

export function epayRsaVerify(params: Readonly<Params>, signature: string, publicKeyPem: string): boolean {
  try {
    return createVerify('RSA-SHA256')
      .update(sortedSignString(params, EXCLUDED), 'utf8')
      .verify(publicKeyPem, signature, 'base64');
  } catch {
    return false;
  }
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The state an epay order status number means (`api.php?act=order`: 0 unpaid, 1 paid, 2 refunded). */
function stateOf(status: unknown): GatewayState {
  const n = Number(status);
  if (n === 1) return 'paid';
  if (n === 0) return 'pending';
  if (n === 2) return 'refunded';
  return 'unknown';
}

export class EpayChannel implements PaymentChannel {
  readonly name = 'epay' as const;
  readonly currencies = ['CNY'];
  readonly methods: readonly string[];
  private readonly privateKey: string | null;
  private readonly platformKey: string | null;

  constructor(
    private readonly settings: EpaySettings,
    private readonly deps: ChannelDeps,
  ) {
    this.methods = settings.methods;
    this.privateKey = settings.privateKey === undefined ? null : toPem(settings.privateKey, 'PRIVATE KEY');
    this.platformKey = settings.platformPublicKey === undefined ? null : toPem(settings.platformPublicKey, 'PUBLIC KEY');
  }

  private get rsa(): boolean {
    return this.settings.signType === 'RSA';
  }

  /** `params` with `sign` and `sign_type` (and, for RSA, a `timestamp`) added. */
  signed(params: Params): Params {
    if (!this.rsa) return { ...params, sign: epayMd5Sign(params, this.settings.key ?? ''), sign_type: 'MD5' };
    const stamped = { ...params, timestamp: String(Math.floor(this.deps.clock() / 1000)) };
    return { ...stamped, sign: epayRsaSign(stamped, this.privateKey ?? ''), sign_type: 'RSA' };
  }

  /** Whether `params` carry a valid signature from the gateway. */
  verify(params: Readonly<Params>): boolean {
    const sign = params.sign ?? '';
    if (sign === '') return false;
    if (this.rsa) return epayRsaVerify(params, sign, this.platformKey ?? '');
    if (!/^[0-9a-fA-F]{32}$/.test(sign)) return false;
    return sameHex(sign, epayMd5Sign(params, this.settings.key ?? ''));
  }

  private orderParams(order: ChannelOrder, method: string, urls: CheckoutUrls): Params {
    return {
      pid: this.settings.pid,
      type: method,
      out_trade_no: order.id,
      notify_url: urls.notifyUrl,
      return_url: urls.returnUrl,
      name: order.subject.slice(0, NAME_MAX),
      money: formatMajorUnits(order),
    };
  }

  async createCheckout(order: ChannelOrder, method: string, urls: CheckoutUrls): Promise<NewCheckout> {
    const params = this.orderParams(order, method, urls);
    if (this.settings.mode === 'submit') {
      const path = this.rsa ? 'api/pay/submit' : 'submit.php';
      return { method, redirectUrl: `${this.settings.gateway}/${path}?${new URLSearchParams(this.signed(params)).toString()}` };
    }
    const body = this.rsa
      ? { ...params, method: 'web', device: 'pc', clientip: urls.clientIp }
      : { ...params, device: 'pc', clientip: urls.clientIp };
    const answer = await this.post(this.rsa ? 'api/pay/create' : 'mapi.php', this.signed(body));
    if (!this.succeeded(answer)) throw new ChannelError(`epay refused the payment: ${text(answer.msg) || 'no reason given'}`);
    const tradeNo = typeof answer.trade_no === 'string' ? answer.trade_no : undefined;
    const withRef = (c: NewCheckout): NewCheckout => (tradeNo ? { ...c, reference: tradeNo } : c);
    if (this.rsa) {
      const info = text(answer.pay_info);
      if (answer.pay_type === 'qrcode') return withRef({ method, qrCode: info });
      if (answer.pay_type === 'jump' || answer.pay_type === 'urlscheme') return withRef({ method, redirectUrl: info });
      throw new ChannelError(`epay answered a pay_type this shop cannot show (${text(answer.pay_type)})`);
    }
    if (typeof answer.qrcode === 'string' && answer.qrcode !== '') return withRef({ method, qrCode: answer.qrcode });
    const url = [answer.payurl, answer.urlscheme].find((u) => typeof u === 'string' && u !== '');
    if (typeof url === 'string') return withRef({ method, redirectUrl: url });
    throw new ChannelError('epay answered neither a pay URL nor a QR code');
  }

  /** A V1 answer succeeds with `code: 1`; a V2 (RSA) one with `code: 0` and a valid signature. */
  private succeeded(answer: Record<string, unknown>): boolean {
    if (!this.rsa) return Number(answer.code) === 1;
    if (Number(answer.code) !== 0) return false;
    const params: Params = {};
    for (const [name, value] of Object.entries(answer)) {
      if (typeof value === 'string' || typeof value === 'number') params[name] = String(value);
    }
    if (!this.verify(params)) throw new ChannelError("epay's answer is not signed by the platform key");
    return true;
  }

  private async post(path: string, params: Params): Promise<Record<string, unknown>> {
    return this.json(
      await fetchWithTimeout(this.deps, `${this.settings.gateway}/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(params).toString(),
      }),
    );
  }

  private async json(response: Response): Promise<Record<string, unknown>> {
    const text = await response.text();
    if (!response.ok) throw new ChannelError(`epay answered HTTP ${response.status}`);
    try {
      const value: unknown = JSON.parse(text);
      if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
    } catch {
      // below
    }
    throw new ChannelError('epay answered something that is not JSON');
  }

  verifyNotification(notification: IncomingNotification): VerifiedNotification {
    const params = notificationParams(notification);
    if (params.pid !== this.settings.pid) return { valid: false, reason: 'pid is not this merchant' };
    if (!this.verify(params)) return { valid: false, reason: 'bad signature' };
    const orderId = params.out_trade_no ?? '';
    const tradeNo = params.trade_no ?? '';
    if (orderId === '' || tradeNo === '') return { valid: false, reason: 'out_trade_no or trade_no missing' };
    if (params.trade_status !== 'TRADE_SUCCESS') return { valid: true, state: 'pending', payment: null, orderId };
    const payment = this.payment(orderId, tradeNo, params.money);
    if (!payment) return { valid: false, reason: 'money is not an amount' };
    return { valid: true, state: 'paid', payment, orderId };
  }

  private payment(orderId: string, tradeNo: string, money: unknown): GatewayPayment | null {
    const amount = parseMajorUnits(text(money), 'CNY');
    return amount === null ? null : { orderId, tradeNo, amount, currency: 'CNY' };
  }

  answer(ok: boolean): NotifyAnswer {
    return plainTextAnswer(ok);
  }

  async query(order: { readonly id: string }): Promise<QueryResult> {
    let answer: Record<string, unknown>;
    if (this.rsa) {
      answer = await this.post('api/pay/query', this.signed({ pid: this.settings.pid, out_trade_no: order.id }));
      if (Number(answer.code) !== 0)
        return { state: 'unknown', payment: null, detail: `epay: ${text(answer.msg) || 'not found'}` };
      this.succeeded(answer);
    } else {
      const url = new URL(`${this.settings.gateway}/api.php`);
      url.search = new URLSearchParams({
        act: 'order',
        pid: this.settings.pid,
        key: this.settings.key ?? '',
        out_trade_no: order.id,
      }).toString();
      answer = await this.json(await fetchWithTimeout(this.deps, url.toString(), { method: 'GET' }));
      if (Number(answer.code) !== 1)
        return { state: 'unknown', payment: null, detail: `epay: ${text(answer.msg) || 'not found'}` };
    }
    if (answer.out_trade_no !== undefined && text(answer.out_trade_no) !== order.id) {
      throw new ChannelError('epay answered about another order');
    }
    const state = stateOf(answer.status);
    const tradeNo = text(answer.trade_no);
    if (state !== 'paid') return { state, payment: null, detail: `epay: status ${text(answer.status)}` };
    const payment = tradeNo === '' ? null : this.payment(order.id, tradeNo, answer.money);
    if (!payment) throw new ChannelError('epay reports the order paid without a trade number or amount');
    return { state, payment, detail: `epay: paid, trade_no ${tradeNo}` };
  }

  async refund(request: RefundRequest): Promise<{ refundId: string; state: 'done' }> {
    const money = formatMajorUnits(request);
    const answer = this.rsa
      ? await this.post(
          'api/pay/refund',
          this.signed({ pid: this.settings.pid, trade_no: request.tradeNo, money, out_refund_no: request.refundId }),
        )
      : await this.post(`api.php?act=refund`, {
          pid: this.settings.pid,
          key: this.settings.key ?? '',
          trade_no: request.tradeNo,
          money,
        });
    if (!this.succeeded(answer)) throw new ChannelError(`epay refused the refund: ${text(answer.msg) || 'no reason given'}`);
    return { refundId: request.refundId, state: 'done' };
  }

  selfCheck() {
    const sample: Params = { pid: this.settings.pid, out_trade_no: 'selfcheck', money: '0.01', trade_status: 'TRADE_SUCCESS' };
    if (!this.rsa) {
      return selfCheckReport([
        check('merchant key', () => {
          const key = this.settings.key ?? '';
          if (key.length < 16) throw new Error(`the key is ${key.length} characters; epay keys are usually 32`);
          return `${key.length} characters`;
        }),
        check('signature', () => {
          const signed = this.signed(sample);
          if (!this.verify(signed)) throw new Error('a sample signed with this key does not verify');
          return 'a sample signed with the key verifies (MD5)';
        }),
      ]);
    }
    return selfCheckReport([
      check('merchant private key', () => {
        const key = createPrivateKey(this.privateKey ?? '');
        const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
        if (key.asymmetricKeyType !== 'rsa') throw new Error(`it is a ${key.asymmetricKeyType ?? 'unknown'} key, not RSA`);
        return `RSA, ${bits} bits`;
      }),
      check('signature', () => {
        const own = createPublicKey(createPrivateKey(this.privateKey ?? ''))
          .export({ type: 'spki', format: 'pem' })
          .toString();
        const signed = this.signed(sample);
        if (!epayRsaVerify(signed, signed.sign ?? '', own)) throw new Error('a sample signed with the key does not verify');
        return 'a sample signed with the private key verifies with its public key (SHA256withRSA)';
      }),
      check('platform public key', () => {
        const platform = createPublicKey(this.platformKey ?? '');
        const own = createPublicKey(createPrivateKey(this.privateKey ?? ''));
        if (platform.export({ type: 'spki', format: 'der' }).equals(own.export({ type: 'spki', format: 'der' }))) {
          throw new Error("this is the merchant's own public key; paste the platform's public key (平台公钥)");
        }
        return `RSA, ${platform.asymmetricKeyDetails?.modulusLength ?? 0} bits`;
      }),
    ]);
  }
}
