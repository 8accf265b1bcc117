/**
 * The Alipay channel (支付宝开放平台), through Alipay's own SDK (`alipay-sdk`): 当面付
 * (`alipay.trade.precreate`, a QR code the buyer scans) and 电脑网站支付 (`alipay.trade.page.pay`, a
 * redirect), RSA2 signatures made by the SDK with the app's private key, answers and notifications
 * verified by it with the Alipay public key, `alipay.trade.query` and `alipay.trade.refund`.
 *
 * Amounts are yuan with two decimals (`total_amount`); the trade closes at Alipay when the hold ends
 * (`time_expire`, Beijing time). A notification is the signed form Alipay posts to `notify_url`,
 * answered with the plain text `success`.
 */
import { createPrivateKey, createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto';
import { AlipaySdk } from 'alipay-sdk';
import { formatMajorUnits, parseMajorUnits } from '../../shared/money';
import type { AlipaySettings } from '../../shared/payments';
import {
  ChannelError,
  check,
  notificationParams,
  plainTextAnswer,
  selfCheckReport,
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

type AlipayAnswer = Record<string, unknown>;

/** A key as the owner pasted it: a PEM, or the base64 body Alipay's key tool shows (PKCS8 or PKCS1). */
export function alipayPrivateKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return createPrivateKey(trimmed);
  const der = Buffer.from(trimmed.replace(/\s+/g, ''), 'base64');
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
  }
}

export function alipayPublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) return createPublicKey(trimmed);
  return createPublicKey({ key: Buffer.from(trimmed.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
}

const pem = (key: KeyObject): string =>
  key.type === 'private'
    ? key.export({ type: 'pkcs8', format: 'pem' }).toString()
    : key.export({ type: 'spki', format: 'pem' }).toString();

/** Unix ms as Alipay's `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8, no daylight saving). */
export function beijingTime(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

const text = (value: unknown): string => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '');

function stateOf(status: string): GatewayState {
  switch (status) {
    case 'TRADE_SUCCESS':
    case 'TRADE_FINISHED':
      return 'paid';
    case 'WAIT_BUYER_PAY':
      return 'pending';
    case 'TRADE_CLOSED':
      return 'closed';
    default:
      return 'unknown';
  }
}

export class AlipayChannel implements PaymentChannel {
  readonly name = 'alipay' as const;
  readonly currencies = ['CNY'];
  readonly methods: readonly string[];
  private readonly sdk: AlipaySdk;
  private readonly privateKeyPem: string;
  private readonly alipayKeyPem: string;

  constructor(
    private readonly settings: AlipaySettings,
    deps: ChannelDeps,
  ) {
    this.methods = settings.methods;
    this.privateKeyPem = pem(alipayPrivateKey(settings.privateKey));
    this.alipayKeyPem = pem(alipayPublicKey(settings.alipayPublicKey));
    this.sdk = new AlipaySdk({
      appId: settings.appId,
      privateKey: this.privateKeyPem,
      keyType: 'PKCS8',
      alipayPublicKey: this.alipayKeyPem,
      gateway: settings.gateway,
      signType: 'RSA2',
      timeout: deps.timeoutMs,
      // Alipay's own field names (trade_status, total_amount), as its documentation writes them.
      camelcase: false,
    });
  }

  /** One call to the gateway, its answer's signature verified with the Alipay public key. */
  private async call(method: string, params: Record<string, unknown>): Promise<AlipayAnswer> {
    try {
      return await this.sdk.exec(method, params, { validateSign: true });
    } catch (error) {
      throw new ChannelError(`alipay ${method}: ${(error as Error).message}`.slice(0, 300));
    }
  }

  async createCheckout(order: ChannelOrder, method: string, urls: CheckoutUrls): Promise<NewCheckout> {
    const biz = {
      out_trade_no: order.id,
      total_amount: formatMajorUnits(order),
      subject: order.subject.slice(0, 256),
      time_expire: beijingTime(order.expiresAt),
    };
    if (method === 'page') {
      const redirectUrl = this.sdk.pageExecute('alipay.trade.page.pay', 'GET', {
        bizContent: { ...biz, product_code: 'FAST_INSTANT_TRADE_PAY' },
        notifyUrl: urls.notifyUrl,
        returnUrl: urls.returnUrl,
      });
      return { method, redirectUrl };
    }
    const answer = await this.call('alipay.trade.precreate', { notifyUrl: urls.notifyUrl, bizContent: biz });
    if (text(answer.code) !== '10000' || text(answer.qr_code) === '') {
      throw new ChannelError(`alipay refused the QR code: ${text(answer.sub_msg) || text(answer.msg) || 'no reason given'}`);
    }
    return { method, qrCode: text(answer.qr_code) };
  }

  verifyNotification(notification: IncomingNotification): VerifiedNotification {
    const params = notificationParams(notification);
    if (params.app_id !== this.settings.appId) return { valid: false, reason: 'app_id is not this application' };
    if (!this.sdk.checkNotifySignV2(params)) return { valid: false, reason: 'bad signature' };
    const orderId = params.out_trade_no ?? '';
    const tradeNo = params.trade_no ?? '';
    if (orderId === '' || tradeNo === '') return { valid: false, reason: 'out_trade_no or trade_no missing' };
    const state = stateOf(params.trade_status ?? '');
    if (state !== 'paid') return { valid: true, state, payment: null, orderId };
    const payment = this.payment(orderId, tradeNo, params.total_amount);
    if (!payment) return { valid: false, reason: 'total_amount is not an amount' };
    return { valid: true, state, payment, orderId };
  }

  private payment(orderId: string, tradeNo: string, amount: unknown): GatewayPayment | null {
    const minor = parseMajorUnits(text(amount), 'CNY');
    return minor === null ? null : { orderId, tradeNo, amount: minor, currency: 'CNY' };
  }

  answer(ok: boolean): NotifyAnswer {
    return plainTextAnswer(ok);
  }

  async query(order: { readonly id: string }): Promise<QueryResult> {
    const answer = await this.call('alipay.trade.query', { bizContent: { out_trade_no: order.id } });
    if (text(answer.code) !== '10000') {
      // ACQ.TRADE_NOT_EXIST: the buyer has not scanned (a precreated trade exists at Alipay only once scanned).
      return { state: 'unknown', payment: null, detail: `alipay: ${text(answer.sub_code) || text(answer.code)}` };
    }
    if (text(answer.out_trade_no) !== '' && text(answer.out_trade_no) !== order.id) {
      throw new ChannelError('alipay answered about another order');
    }
    const status = text(answer.trade_status);
    const state = stateOf(status);
    if (state !== 'paid') return { state, payment: null, detail: `alipay: ${status || 'no status'}` };
    const tradeNo = text(answer.trade_no);
    const payment = tradeNo === '' ? null : this.payment(order.id, tradeNo, answer.total_amount);
    if (!payment) throw new ChannelError('alipay reports the trade paid without a trade number or amount');
    return { state, payment, detail: `alipay: ${status}, trade_no ${tradeNo}` };
  }

  async refund(request: RefundRequest): Promise<{ refundId: string; state: 'done' }> {
    const answer = await this.call('alipay.trade.refund', {
      bizContent: {
        out_trade_no: request.orderId,
        trade_no: request.tradeNo,
        refund_amount: formatMajorUnits(request),
        out_request_no: request.refundId,
        refund_reason: request.reason.slice(0, 256),
      },
    });
    if (text(answer.code) !== '10000') {
      throw new ChannelError(`alipay refused the refund: ${text(answer.sub_msg) || text(answer.msg) || 'no reason given'}`);
    }
    return { refundId: request.refundId, state: 'done' };
  }

  selfCheck() {
    return selfCheckReport([
      check('app id', () => {
        if (!/^\d{16}$/.test(this.settings.appId))
          throw new Error(`${this.settings.appId} is not 16 digits, as Alipay app ids are`);
        return this.settings.appId;
      }),
      check('app private key', () => {
        const key = createPrivateKey(this.privateKeyPem);
        if (key.asymmetricKeyType !== 'rsa') throw new Error(`it is a ${key.asymmetricKeyType ?? 'unknown'} key, not RSA`);
        return `RSA, ${key.asymmetricKeyDetails?.modulusLength ?? 0} bits`;
      }),
      check('signature', () => {
        const sample = 'app_id=selfcheck&method=alipay.trade.query';
        const signature = createSign('RSA-SHA256').update(sample).sign(this.privateKeyPem, 'base64');
        const own = createPublicKey(createPrivateKey(this.privateKeyPem));
        if (!createVerify('RSA-SHA256').update(sample).verify(own, signature, 'base64'))
          throw new Error('a sample signed with the key does not verify');
        return 'a sample signed with the app private key verifies (RSA2)';
      }),
      check('Alipay public key', () => {
        const alipay = createPublicKey(this.alipayKeyPem);
        const own = createPublicKey(createPrivateKey(this.privateKeyPem));
        if (alipay.export({ type: 'spki', format: 'der' }).equals(own.export({ type: 'spki', format: 'der' }))) {
          throw new Error("this is the app's own public key (应用公钥); paste the Alipay public key (支付宝公钥)");
        }
        return `RSA, ${alipay.asymmetricKeyDetails?.modulusLength ?? 0} bits`;
      }),
    ]);
  }
}
