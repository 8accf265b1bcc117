/**
 * A fake Alipay open-platform gateway on 127.0.0.1, written from Alipay's published protocol
 * (https://opendocs.alipay.com: 公共参数, 签名与验签, 异步通知): `POST /gateway.do` with the common
 * parameters in the query string and `biz_content` in the form body, every request's RSA2 signature
 * checked with the app's public key (sorted `k=v` of every parameter but `sign`); answers
 * `{"<method>_response": {...}, "sign": "..."}` signed over the exact JSON text of the response object
 * with the platform's private key; `GET /gateway.do` for 电脑网站支付 shows a page whose Pay button pays,
 * notifies (a signed form POST; `sign` and `sign_type` left out of the signed string) and returns the
 * buyer to `return_url`. Keys are made by the test.
 */
import { createSign, createVerify, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeHtml, readBody, FakeServer } from './fake-server';

type Params = Record<string, string>;

export interface FakeAlipayOptions {
  readonly appId: string;
  /** The app's public key (verifies requests). */
  readonly appPublicKey: string;
  /** The platform's private key (signs answers and notifications). */
  readonly platformPrivateKey: string;
}

export interface FakeTrade {
  readonly outTradeNo: string;
  readonly tradeNo: string;
  readonly totalAmount: string;
  readonly subject: string;
  readonly notifyUrl: string;
  readonly returnUrl: string;
  readonly timeExpire: string;
  status: 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED';
}

export interface SentNotification {
  readonly params: Params;
  readonly status: number;
  readonly body: string;
}

function sortedSignString(params: Params, exclude: readonly string[]): string {
  return Object.keys(params)
    .filter((k) => !exclude.includes(k) && params[k] !== '' && params[k] !== undefined)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
}

export class FakeAlipayGateway extends FakeServer {
  readonly trades = new Map<string, FakeTrade>();
  readonly notifications: SentNotification[] = [];
  /** Requests refused, each a one-line reason. */
  readonly refused: string[] = [];
  /** Every method called, in order. */
  readonly calls: { readonly method: string; readonly biz: Record<string, string | undefined> }[] = [];
  private seq = 0;

  constructor(private readonly options: FakeAlipayOptions) {
    super();
  }

  get gateway(): string {
    return `${this.url}/gateway.do`;
  }

  /** Signs a notification as Alipay does: RSA2 over the sorted parameters without `sign` and `sign_type`. */
  signNotification(params: Params): Params {
    const withType = { ...params, sign_type: 'RSA2' };
    const sign = createSign('RSA-SHA256')
      .update(sortedSignString(withType, ['sign', 'sign_type']), 'utf8')
      .sign(this.options.platformPrivateKey, 'base64');
    return { ...withType, sign };
  }

  notificationParams(trade: FakeTrade, overrides: Partial<Params> = {}): Params {
    return this.signNotification({
      notify_time: '2026-12-06 12:00:00',
      notify_type: 'trade_status_sync',
      notify_id: randomBytes(8).toString('hex'),
      app_id: this.options.appId,
      charset: 'utf-8',
      version: '1.0',
      trade_no: trade.tradeNo,
      out_trade_no: trade.outTradeNo,
      trade_status: trade.status,
      total_amount: trade.totalAmount,
      receipt_amount: trade.totalAmount,
      subject: trade.subject,
      gmt_payment: '2026-12-06 12:00:00',
      ...overrides,
    });
  }

  /** Posts `params` to the trade's notify_url as a form, as Alipay does, and records the answer. */
  async notify(trade: FakeTrade, params: Params, url = trade.notifyUrl): Promise<SentNotification> {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
      body: new URLSearchParams(params).toString(),
    });
    const sent = { params, status: response.status, body: await response.text() };
    this.notifications.push(sent);
    return sent;
  }

  /** The buyer paid: the trade succeeds, and (unless `notify: false`) the shop is told. */
  async pay(outTradeNo: string, options: { notify?: boolean; amount?: string } = {}): Promise<FakeTrade> {
    const trade = this.trades.get(outTradeNo);
    if (!trade) throw new Error(`the fake Alipay has no trade ${outTradeNo}`);
    trade.status = 'TRADE_SUCCESS';
    if (options.notify !== false) {
      await this.notify(trade, this.notificationParams(trade, options.amount ? { total_amount: options.amount } : {}));
    }
    return trade;
  }

  private verifyRequest(params: Params): boolean {
    if (params.app_id !== this.options.appId || params.sign_type !== 'RSA2') return false;
    try {
      return createVerify('RSA-SHA256')
        .update(sortedSignString(params, ['sign']), 'utf8')
        .verify(this.options.appPublicKey, params.sign ?? '', 'base64');
    } catch {
      return false;
    }
  }

  private answer(res: ServerResponse, method: string, body: Record<string, unknown>): void {
    const key = `${method.replaceAll('.', '_')}_response`;
    const inner = JSON.stringify(body);
    const sign = createSign('RSA-SHA256').update(inner, 'utf8').sign(this.options.platformPrivateKey, 'base64');
    res
      .writeHead(200, { 'content-type': 'application/json;charset=utf-8' })
      .end(`{"${key}":${inner},"sign":${JSON.stringify(sign)}}`);
  }

  private create(biz: Record<string, string | undefined>, params: Params): FakeTrade {
    const outTradeNo = String(biz.out_trade_no ?? '');
    const existing = this.trades.get(outTradeNo);
    if (existing) return existing;
    const trade: FakeTrade = {
      outTradeNo,
      tradeNo: `2026120622001${String(++this.seq).padStart(6, '0')}${randomBytes(2).toString('hex')}`,
      totalAmount: String(biz.total_amount ?? ''),
      subject: String(biz.subject ?? ''),
      notifyUrl: params.notify_url ?? '',
      returnUrl: params.return_url ?? '',
      timeExpire: String(biz.time_expire ?? ''),
      status: 'WAIT_BUYER_PAY',
    };
    this.trades.set(outTradeNo, trade);
    return trade;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const body = req.method === 'POST' ? await readBody(req) : '';
    if (url.pathname === '/pay' && req.method === 'POST') {
      const trade = await this.pay(new URLSearchParams(body).get('out_trade_no') ?? '');
      res.writeHead(302, { location: `${trade.returnUrl}?out_trade_no=${encodeURIComponent(trade.outTradeNo)}` }).end();
      return;
    }
    if (url.pathname !== '/gateway.do') return void res.writeHead(404).end('not found');
    const params: Params = { ...Object.fromEntries(url.searchParams), ...Object.fromEntries(new URLSearchParams(body)) };
    const method = params.method ?? '';
    if (!this.verifyRequest(params)) {
      this.refused.push(`bad signature on ${method}`);
      return this.answer(res, method, { code: '40002', msg: 'Invalid Arguments', sub_code: 'isv.invalid-signature' });
    }
    const biz = JSON.parse(params.biz_content ?? '{}') as Record<string, string | undefined>;
    this.calls.push({ method, biz });
    const trade = this.trades.get(String(biz.out_trade_no ?? ''));
    switch (method) {
      case 'alipay.trade.page.pay': {
        const made = this.create(biz, params);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
          `<!doctype html><html><head><meta charset="utf-8"><title>Fake Alipay</title><link rel="icon" href="data:,"></head><body>
           <h1>Fake Alipay</h1><p id="amount">¥${escapeHtml(made.totalAmount)}</p>
           <form method="post" action="/pay"><input type="hidden" name="out_trade_no" value="${escapeHtml(made.outTradeNo)}">
           <button type="submit" id="pay">Pay</button></form></body></html>`,
        );
        return;
      }
      case 'alipay.trade.precreate': {
        const made = this.create(biz, params);
        return this.answer(res, method, {
          code: '10000',
          msg: 'Success',
          out_trade_no: made.outTradeNo,
          qr_code: `https://qr.alipay.com/bax0${made.tradeNo.slice(-8)}`,
        });
      }
      case 'alipay.trade.query':
        if (!trade)
          return this.answer(res, method, {
            code: '40004',
            msg: 'Business Failed',
            sub_code: 'ACQ.TRADE_NOT_EXIST',
            sub_msg: '交易不存在',
          });
        return this.answer(res, method, {
          code: '10000',
          msg: 'Success',
          trade_no: trade.tradeNo,
          out_trade_no: trade.outTradeNo,
          trade_status: trade.status,
          total_amount: trade.totalAmount,
        });
      case 'alipay.trade.refund':
        if (trade?.status !== 'TRADE_SUCCESS' || biz.refund_amount !== trade.totalAmount)
          return this.answer(res, method, { code: '40004', msg: 'Business Failed', sub_code: 'ACQ.TRADE_STATUS_ERROR' });
        trade.status = 'TRADE_CLOSED';
        return this.answer(res, method, {
          code: '10000',
          msg: 'Success',
          trade_no: trade.tradeNo,
          out_trade_no: trade.outTradeNo,
          fund_change: 'Y',
          refund_fee: trade.totalAmount,
        });
      default:
        return this.answer(res, method, { code: '40004', msg: 'Business Failed', sub_code: 'isv.invalid-method' });
    }
  }
}
