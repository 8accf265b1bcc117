/**
 * A fake WeChat Pay API v3 on 127.0.0.1, written from WeChat Pay's published v3 documentation
 * (签名生成, 签名验证, 回调通知, Native 下单, 查询订单, 申请退款): each request's `Authorization`
 * (WECHATPAY2-SHA256-RSA2048) is checked with the merchant's public key; each answer is signed with
 * the platform's private key (`Wechatpay-Timestamp`, `-Nonce`, `-Signature`, `-Serial`); a payment is
 * notified as signed JSON whose `resource` is the transaction encrypted with AEAD_AES_256_GCM under the
 * APIv3 key. Keys are made by the test.
 */
import { createCipheriv, createSign, createVerify, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, FakeServer } from './fake-server';

export interface FakeWechatOptions {
  readonly mchid: string;
  readonly appid: string;
  readonly merchantPublicKey: string;
  readonly platformPrivateKey: string;
  readonly platformSerial: string;
  readonly apiV3Key: string;
}

export interface FakeTransaction {
  readonly outTradeNo: string;
  readonly transactionId: string;
  readonly total: number;
  readonly notifyUrl: string;
  readonly timeExpire: string;
  state: 'NOTPAY' | 'SUCCESS' | 'REFUND' | 'CLOSED';
}

export interface SentNotification {
  readonly body: string;
  readonly headers: Record<string, string>;
  readonly status: number;
}

export class FakeWechatpayGateway extends FakeServer {
  readonly transactions = new Map<string, FakeTransaction>();
  readonly notifications: SentNotification[] = [];
  readonly refused: string[] = [];
  readonly calls: { readonly method: string; readonly path: string; readonly body: Record<string, unknown> }[] = [];
  private seq = 0;

  constructor(private readonly options: FakeWechatOptions) {
    super();
  }

  /** The platform's signature headers for `body` at `timestamp` (unix seconds). */
  signedHeaders(body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
    const nonce = randomBytes(16).toString('hex');
    const signature = createSign('RSA-SHA256')
      .update(`${timestamp}\n${nonce}\n${body}\n`, 'utf8')
      .sign(this.options.platformPrivateKey, 'base64');
    return {
      'wechatpay-timestamp': String(timestamp),
      'wechatpay-nonce': nonce,
      'wechatpay-signature': signature,
      'wechatpay-serial': this.options.platformSerial,
    };
  }

  transactionJson(tx: FakeTransaction, overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      appid: this.options.appid,
      mchid: this.options.mchid,
      out_trade_no: tx.outTradeNo,
      transaction_id: tx.transactionId,
      trade_type: 'NATIVE',
      trade_state: tx.state,
      trade_state_desc: tx.state === 'SUCCESS' ? '支付成功' : '未支付',
      success_time: '2026-12-06T12:00:00+08:00',
      amount: { total: tx.total, payer_total: tx.total, currency: 'CNY', payer_currency: 'CNY' },
      ...overrides,
    };
  }

  /** The notification body of a transaction: the event with its resource encrypted. */
  notificationBody(tx: FakeTransaction, overrides: Record<string, unknown> = {}, key = this.options.apiV3Key): string {
    const nonce = randomBytes(6).toString('hex');
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(key, 'utf8'), Buffer.from(nonce, 'utf8'));
    cipher.setAAD(Buffer.from('transaction', 'utf8'));
    const plain = JSON.stringify(this.transactionJson(tx, overrides));
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
    return JSON.stringify({
      id: `EV-${randomBytes(6).toString('hex')}`,
      create_time: '2026-12-06T12:00:00+08:00',
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      summary: '支付成功',
      resource: {
        original_type: 'transaction',
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext,
        associated_data: 'transaction',
        nonce,
      },
    });
  }

  /** Posts a notification to the transaction's notify_url, signed unless `headers` are given. */
  async notify(
    tx: FakeTransaction,
    body = this.notificationBody(tx),
    headers = this.signedHeaders(body),
  ): Promise<SentNotification> {
    const response = await fetch(tx.notifyUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    const sent = { body, headers, status: response.status };
    await response.text();
    this.notifications.push(sent);
    return sent;
  }

  async pay(outTradeNo: string, options: { notify?: boolean } = {}): Promise<FakeTransaction> {
    const tx = this.transactions.get(outTradeNo);
    if (!tx) throw new Error(`the fake WeChat Pay has no order ${outTradeNo}`);
    tx.state = 'SUCCESS';
    if (options.notify !== false) await this.notify(tx);
    return tx;
  }

  private verifyRequest(method: string, path: string, body: string, authorization: string): boolean {
    const fields: Record<string, string | undefined> = Object.fromEntries(
      [...authorization.replace(/^WECHATPAY2-SHA256-RSA2048 /, '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
    );
    if (!authorization.startsWith('WECHATPAY2-SHA256-RSA2048 ') || fields.mchid !== this.options.mchid) return false;
    if (Math.abs(Date.now() / 1000 - Number(fields.timestamp)) > 300) return false;
    try {
      return createVerify('RSA-SHA256')
        .update(`${method}\n${path}\n${fields.timestamp}\n${fields.nonce_str}\n${body}\n`, 'utf8')
        .verify(this.options.merchantPublicKey, fields.signature ?? '', 'base64');
    } catch {
      return false;
    }
  }

  private reply(res: ServerResponse, status: number, value: Record<string, unknown> | null): void {
    const body = value === null ? '' : JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...this.signedHeaders(body) }).end(body);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (!this.verifyRequest(method, path, body, String(req.headers.authorization ?? ''))) {
      this.refused.push(`bad signature on ${method} ${path}`);
      return this.reply(res, 401, { code: 'SIGN_ERROR', message: '签名错误' });
    }
    const json = (body === '' ? {} : JSON.parse(body)) as Record<string, unknown>;
    this.calls.push({ method, path, body: json });
    const url = new URL(path, this.url);
    if (method === 'POST' && url.pathname === '/v3/pay/transactions/native') {
      const outTradeNo = String(json.out_trade_no);
      const amount = json.amount as { total: number };
      const tx: FakeTransaction = this.transactions.get(outTradeNo) ?? {
        outTradeNo,
        transactionId: `42000${String(++this.seq).padStart(8, '0')}${randomBytes(3).toString('hex')}`,
        total: amount.total,
        notifyUrl: String(json.notify_url),
        timeExpire: String(json.time_expire),
        state: 'NOTPAY',
      };
      this.transactions.set(outTradeNo, tx);
      return this.reply(res, 200, { code_url: `weixin://wxpay/bizpayurl?pr=${tx.transactionId.slice(-8)}` });
    }
    const queried = /^\/v3\/pay\/transactions\/out-trade-no\/([^/?]+)$/.exec(url.pathname);
    if (method === 'GET' && queried) {
      const tx = this.transactions.get(decodeURIComponent(queried[1]!));
      if (!tx || url.searchParams.get('mchid') !== this.options.mchid)
        return this.reply(res, 404, { code: 'ORDER_NOT_EXIST', message: '订单不存在' });
      return this.reply(res, 200, this.transactionJson(tx));
    }
    if (method === 'POST' && url.pathname === '/v3/refund/domestic/refunds') {
      const tx = [...this.transactions.values()].find((t) => t.transactionId === json.transaction_id);
      const amount = json.amount as { refund: number; total: number } | undefined;
      if (tx?.state !== 'SUCCESS' || amount?.refund !== tx.total)
        return this.reply(res, 400, { code: 'INVALID_REQUEST', message: '订单状态不正确' });
      tx.state = 'REFUND';
      return this.reply(res, 200, { refund_id: `50300${this.seq}`, out_refund_no: json.out_refund_no, status: 'SUCCESS' });
    }
    return this.reply(res, 404, { code: 'NOT_FOUND', message: 'no such API' });
  }
}
