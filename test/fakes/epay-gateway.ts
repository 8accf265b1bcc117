/**
 * A small epay (易支付) gateway for tests, written from the published merchant protocol, on 127.0.0.1 over
 * a real socket: `submit.php` (a pay page with a Pay button, for the browser test), `mapi.php` (JSON with
 * a QR code), `api.php?act=order` (the query) and `api.php?act=refund`, and the V2 (RSA) endpoints
 * `api/pay/submit`, `api/pay/create`, `api/pay/query`. Every request it receives is signature-checked
 * the way a real gateway would; `pay()` marks an order paid and sends the signed notification (by GET
 * or POST form, or not at all: a lost notification), then the buyer goes back to `return_url`.
 */
import { createHash, createSign, createVerify, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeHtml, readBody, FakeServer } from './fake-server';

type Params = Record<string, string>;

export interface FakeEpayOptions {
  readonly pid: string;
  /** MD5 mode: the merchant key. */
  readonly key?: string;
  /** RSA mode: the merchant's public key (to verify requests) and the platform's private key (to sign). */
  readonly merchantPublicKey?: string;
  readonly platformPrivateKey?: string;
}

export interface FakeOrder {
  readonly outTradeNo: string;
  readonly tradeNo: string;
  readonly money: string;
  readonly type: string;
  readonly name: string;
  readonly notifyUrl: string;
  readonly returnUrl: string;
  status: 0 | 1 | 2;
}

export interface SentNotification {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly params: Params;
  readonly status: number;
  readonly body: string;
}

function signString(params: Params): string {
  return Object.keys(params)
    .filter((k) => k !== 'sign' && k !== 'sign_type' && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
}

export class FakeEpayGateway extends FakeServer {
  readonly orders = new Map<string, FakeOrder>();
  readonly notifications: SentNotification[] = [];
  /** Requests the gateway refused (a bad signature, a wrong pid): each a one-line reason. */
  readonly refused: string[] = [];
  /** The order each query asked about, in arrival order, and when (unix ms). */
  readonly queries: string[] = [];
  readonly queryTimes: { readonly outTradeNo: string; readonly at: number }[] = [];
  /** How `pay()` notifies by default. */
  notifyMethod: 'GET' | 'POST' = 'GET';
  private seq = 0;

  constructor(private readonly options: FakeEpayOptions) {
    super();
  }

  private get rsa(): boolean {
    return this.options.key === undefined;
  }

  /** Signs as the platform does: MD5 with the merchant key, or RSA with the platform's private key. */
  sign(params: Params): Params {
    if (!this.rsa) {
      const sign = createHash('md5')
        .update(signString(params) + this.options.key)
        .digest('hex');
      return { ...params, sign, sign_type: 'MD5' };
    }
    const stamped = { ...params, timestamp: String(Math.floor(Date.now() / 1000)) };
    const sign = createSign('RSA-SHA256').update(signString(stamped)).sign(this.options.platformPrivateKey!, 'base64');
    return { ...stamped, sign, sign_type: 'RSA' };
  }

  private verify(params: Params): boolean {
    if (params.pid !== this.options.pid) return false;
    if (!this.rsa) {
      const expected = createHash('md5')
        .update(signString(params) + this.options.key)
        .digest('hex');
      return params.sign === expected && params.sign_type === 'MD5';
    }
    try {
      return (
        params.sign_type === 'RSA' &&
        createVerify('RSA-SHA256')
          .update(signString(params))
          .verify(this.options.merchantPublicKey!, params.sign ?? '', 'base64')
      );
    } catch {
      return false;
    }
  }

  private create(params: Params): FakeOrder {
    const existing = this.orders.get(params.out_trade_no ?? '');
    if (existing) return existing;
    const order: FakeOrder = {
      outTradeNo: params.out_trade_no ?? '',
      tradeNo: `2026${String(++this.seq).padStart(8, '0')}${randomBytes(3).toString('hex')}`,
      money: params.money ?? '',
      type: params.type ?? '',
      name: params.name ?? '',
      notifyUrl: params.notify_url ?? '',
      returnUrl: params.return_url ?? '',
      status: 0,
    };
    this.orders.set(order.outTradeNo, order);
    return order;
  }

  /** The parameters a notification (or a return) of `order` carries, signed. */
  notificationParams(order: FakeOrder, overrides: Partial<Params> = {}): Params {
    return this.sign({
      pid: this.options.pid,
      trade_no: order.tradeNo,
      out_trade_no: order.outTradeNo,
      type: order.type,
      name: order.name,
      money: order.money,
      trade_status: 'TRADE_SUCCESS',
      ...overrides,
    });
  }

  /** Sends `params` to the order's notify_url the way epay servers do, and records the answer. */
  async notify(order: FakeOrder, params: Params, method = this.notifyMethod, url = order.notifyUrl): Promise<SentNotification> {
    const query = new URLSearchParams(params).toString();
    const response =
      method === 'GET'
        ? await fetch(`${url}?${query}`)
        : await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: query });
    const sent = { url, method, params, status: response.status, body: await response.text() };
    this.notifications.push(sent);
    return sent;
  }

  /** The buyer paid: the order is paid here, and (unless `notify: false`, a lost notification) the shop is told. */
  async pay(outTradeNo: string, options: { notify?: boolean; money?: string } = {}): Promise<FakeOrder> {
    const order = this.orders.get(outTradeNo);
    if (!order) throw new Error(`the fake gateway has no order ${outTradeNo}`);
    order.status = 1;
    if (options.notify !== false) {
      await this.notify(order, this.notificationParams(order, options.money ? { money: options.money } : {}));
    }
    return order;
  }

  private recordQuery(outTradeNo: string): void {
    this.queries.push(outTradeNo);
    this.queryTimes.push({ outTradeNo, at: Date.now() });
  }

  private json(res: ServerResponse, value: unknown): void {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(value));
  }

  private refuse(res: ServerResponse, why: string, asJson: boolean): void {
    this.refused.push(why);
    if (asJson) this.json(res, { code: -1, msg: why });
    else res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end(why);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const body = req.method === 'POST' ? await readBody(req) : '';
    const params: Params = Object.fromEntries(new URLSearchParams(req.method === 'POST' ? body : url.search));
    const path = url.pathname;

    if (path === '/submit.php' || path === '/api/pay/submit') {
      if (!this.verify(params)) return this.refuse(res, `bad signature on ${path}`, false);
      const order = this.create(params);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
        `<!doctype html><html><head><meta charset="utf-8"><title>Fake epay</title><link rel="icon" href="data:,"></head><body>
         <h1>Fake epay</h1><p id="amount">¥${escapeHtml(order.money)}</p><p>${escapeHtml(order.name)}</p>
         <form method="post" action="/pay"><input type="hidden" name="out_trade_no" value="${escapeHtml(order.outTradeNo)}">
         <button type="submit" id="pay">Pay</button></form></body></html>`,
      );
      return;
    }
    if (path === '/pay' && req.method === 'POST') {
      const order = await this.pay(params.out_trade_no ?? '');
      const back = new URLSearchParams(this.notificationParams(order)).toString();
      res.writeHead(302, { location: `${order.returnUrl}?${back}` }).end();
      return;
    }
    if (path === '/mapi.php' || path === '/api/pay/create') {
      if (!this.verify(params)) return this.refuse(res, `bad signature on ${path}`, true);
      const order = this.create(params);
      const qr = `https://qr.fake-epay.test/pay/${order.tradeNo}`;
      if (this.rsa) this.json(res, this.sign({ code: '0', trade_no: order.tradeNo, pay_type: 'qrcode', pay_info: qr }));
      else this.json(res, { code: 1, msg: 'ok', trade_no: order.tradeNo, qrcode: qr });
      return;
    }
    if (path === '/api.php' && url.searchParams.get('act') === 'order') {
      const q = Object.fromEntries(url.searchParams);
      this.recordQuery(q.out_trade_no ?? '');
      if (q.pid !== this.options.pid || q.key !== this.options.key) return this.refuse(res, 'bad merchant key', true);
      const order = this.orders.get(q.out_trade_no ?? '');
      if (!order) return this.json(res, { code: -1, msg: '订单号不存在' });
      this.json(res, {
        code: 1,
        msg: '查询订单号成功！',
        trade_no: order.tradeNo,
        out_trade_no: order.outTradeNo,
        type: order.type,
        pid: this.options.pid,
        name: order.name,
        money: order.money,
        status: order.status,
      });
      return;
    }
    if (path === '/api/pay/query') {
      this.recordQuery(params.out_trade_no ?? '');
      if (!this.verify(params)) return this.refuse(res, 'bad signature on api/pay/query', true);
      const order = this.orders.get(params.out_trade_no ?? '');
      if (!order) return this.json(res, { code: -1, msg: 'order not found' });
      this.json(
        res,
        this.sign({
          code: '0',
          trade_no: order.tradeNo,
          out_trade_no: order.outTradeNo,
          type: order.type,
          money: order.money,
          status: String(order.status),
        }),
      );
      return;
    }
    if ((path === '/api.php' && url.searchParams.get('act') === 'refund') || path === '/api/pay/refund') {
      const ok = this.rsa ? this.verify(params) : params.pid === this.options.pid && params.key === this.options.key;
      if (!ok) return this.refuse(res, 'bad refund credentials', true);
      const order = [...this.orders.values()].find((o) => o.tradeNo === params.trade_no);
      if (order?.status !== 1) return this.json(res, { code: -1, msg: 'not refundable' });
      order.status = 2;
      this.json(res, this.rsa ? this.sign({ code: '0', msg: 'ok' }) : { code: 1, msg: '退款成功' });
      return;
    }
    res.writeHead(404).end('not found');
  }
}
