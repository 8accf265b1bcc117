/**
 * The statement presets: how each provider's export names its columns and what its rows mean.
 *
 * - wechat: WeChat Pay merchant trade bill (交易账单). Every field starts with a backtick, times are
 *   Beijing time, amounts in yuan; a summary block (总交易单数, ...) closes the file. REFUND rows carry
 *   the refund number (微信退款单号) and amount (退款金额).
 * - alipay: Alipay account detail (账务明细), GBK, often zipped, with `#` comment lines around the
 *   table, tab-padded cells, income and expense in separate columns; 业务类型 says payment or refund.
 * - stripe: the dashboard's balance history export (id, Type, Source, Amount, ... Created (UTC)), with
 *   the order number in an `order_id (metadata)` column or the description.
 * - paypal: the activity download (Date, Time, TimeZone, ... Gross, Transaction ID, Reference Txn ID,
 *   Invoice Number), US dates in the account's zone, refunds negative.
 * - generic: payment_id,order_id,amount,currency,status,created_at; minor units; succeeded|refunded.
 */
import type { ColumnMapping, StatementFormat } from '../../../shared/reconcile';
import { CellError, clean, majorAmount, minorAmount, parseTime, zoneOffset } from './fields';

/** Reads one cell of the current row by column name. */
export type Get = (column: string) => string;

export interface RowOut {
  readonly paymentId: string;
  readonly refPaymentId: string | null;
  readonly orderId: string | null;
  readonly kind: 'payment' | 'refund';
  readonly amount: number;
  readonly currency: string;
  readonly at: number;
}

export interface Preset {
  readonly format: StatementFormat | 'custom';
  readonly label: string;
  /** Columns the header row must have (it is found by them). */
  readonly required: readonly string[];
  /** A record that ends the table (a summary block). */
  readonly stopAt?: (first: string) => boolean;
  /** Lines starting with `#` are comments (Alipay). */
  readonly comments?: boolean;
  /** The row's meaning, or a reason to skip it. */
  readonly row: (get: Get) => RowOut | { skip: string };
}

const nonEmpty = (v: string): string | null => (v === '' || v === '-' ? null : v);
const ORDER_TOKEN = /\bord_[A-Za-z0-9_-]{4,}/;

const wechat: Preset = {
  format: 'wechat',
  label: 'WeChat Pay trade bill',
  required: ['交易时间', '微信订单号', '商户订单号', '交易状态', '应结订单金额'],
  stopAt: (first) => first.startsWith('总交易单数') || first.startsWith('总计'),
  row(get) {
    const status = get('交易状态').toUpperCase();
    const currency = (get('货币种类') || 'CNY').toUpperCase();
    const at = parseTime(get('交易时间'), '+08:00');
    const paymentId = get('微信订单号');
    if (!paymentId) throw new CellError('微信订单号 is empty');
    const orderId = nonEmpty(get('商户订单号'));
    if (status === 'SUCCESS') {
      const total = get('订单金额') || get('应结订单金额');
      return { paymentId, refPaymentId: null, orderId, kind: 'payment', amount: majorAmount(total, currency), currency, at };
    }
    if (status === 'REFUND') {
      const refundState = get('退款状态').toUpperCase();
      if (refundState !== '' && refundState !== 'SUCCESS') return { skip: `refund ${refundState.toLowerCase()}` };
      const refundId = get('微信退款单号') || `${paymentId}:refund`;
      return {
        paymentId: refundId,
        refPaymentId: paymentId,
        orderId,
        kind: 'refund',
        amount: majorAmount(get('退款金额') || get('申请退款金额'), currency),
        currency,
        at,
      };
    }
    return { skip: `status ${status || '(empty)'}` };
  },
};

const alipay: Preset = {
  format: 'alipay',
  label: 'Alipay account detail',
  required: ['账务流水号', '业务流水号', '商户订单号', '发生时间', '业务类型'],
  comments: true,
  row(get) {
    const type = get('业务类型');
    const at = parseTime(get('发生时间'), '+08:00');
    const income = get('收入金额（+元）') || get('收入金额(+元)');
    const expense = get('支出金额（-元）') || get('支出金额(-元)');
    const orderId = nonEmpty(get('商户订单号'));
    const trade = get('业务流水号');
    const entry = get('账务流水号');
    if (!entry) throw new CellError('账务流水号 is empty');
    if (type.includes('退款')) {
      return {
        paymentId: entry,
        refPaymentId: nonEmpty(trade),
        orderId,
        kind: 'refund',
        amount: Math.abs(majorAmount(expense || '0', 'CNY')),
        currency: 'CNY',
        at,
      };
    }
    if (/在线支付|交易付款|收款|转账/.test(type)) {
      const amount = majorAmount(income || '0', 'CNY');
      if (amount <= 0) return { skip: `${type} without income` };
      return { paymentId: trade || entry, refPaymentId: null, orderId, kind: 'payment', amount, currency: 'CNY', at };
    }
    return { skip: `业务类型 ${type || '(empty)'}` };
  },
};

const stripe: Preset = {
  format: 'stripe',
  label: 'Stripe balance history',
  required: ['id', 'Type', 'Source', 'Amount', 'Currency', 'Created (UTC)'],
  row(get) {
    const type = get('Type').toLowerCase();
    const currency = get('Currency').toUpperCase();
    const at = parseTime(get('Created (UTC)'), '+00:00');
    const source = get('Source') || get('id');
    const orderId = nonEmpty(get('order_id (metadata)')) ?? ORDER_TOKEN.exec(get('Description'))?.[0] ?? null;
    const amount = majorAmount(get('Amount'), currency);
    if (type === 'charge' || type === 'payment')
      return { paymentId: source, refPaymentId: null, orderId, kind: 'payment', amount: Math.abs(amount), currency, at };
    if (type === 'refund' || type === 'payment_refund') {
      const charge = /\b(ch|py)_[A-Za-z0-9]+/.exec(get('Description'))?.[0] ?? nonEmpty(get('charge_id (metadata)'));
      return { paymentId: source, refPaymentId: charge ?? null, orderId, kind: 'refund', amount: Math.abs(amount), currency, at };
    }
    return { skip: `type ${type || '(empty)'}` };
  },
};

const paypal: Preset = {
  format: 'paypal',
  label: 'PayPal activity download',
  required: ['Date', 'Time', 'TimeZone', 'Type', 'Status', 'Currency', 'Gross', 'Transaction ID'],
  row(get) {
    const status = get('Status');
    const type = get('Type');
    const currency = get('Currency').toUpperCase();
    if (status !== 'Completed') return { skip: `status ${status || '(empty)'}` };
    const at = parseTime(`${get('Date')} ${get('Time')}`, zoneOffset(get('TimeZone') || 'UTC'), { us: true });
    const gross = majorAmount(get('Gross'), currency);
    const orderId = nonEmpty(get('Invoice Number')) ?? nonEmpty(get('Custom Number'));
    const paymentId = get('Transaction ID');
    if (!paymentId) throw new CellError('Transaction ID is empty');
    if (/refund|reversal/i.test(type) && gross < 0) {
      return {
        paymentId,
        refPaymentId: nonEmpty(get('Reference Txn ID')),
        orderId,
        kind: 'refund',
        amount: -gross,
        currency,
        at,
      };
    }
    if (/payment/i.test(type) && gross > 0)
      return { paymentId, refPaymentId: null, orderId, kind: 'payment', amount: gross, currency, at };
    return { skip: `type ${type || '(empty)'}` };
  },
};

const generic: Preset = {
  format: 'generic',
  label: 'generic (payment_id,order_id,amount,currency,status,created_at)',
  required: ['payment_id', 'order_id', 'amount', 'currency', 'status', 'created_at'],
  row(get) {
    const status = get('status').toLowerCase();
    const currency = get('currency').toUpperCase();
    const paymentId = get('payment_id');
    if (!paymentId) throw new CellError('payment_id is empty');
    const amount = minorAmount(get('amount'));
    if (amount < 0) throw new CellError('amount is negative; a refund is a row with status "refunded"');
    const at = parseTime(get('created_at'), '+00:00');
    const orderId = nonEmpty(get('order_id'));
    if (status === 'succeeded') return { paymentId, refPaymentId: null, orderId, kind: 'payment', amount, currency, at };
    if (status === 'refunded') return { paymentId, refPaymentId: paymentId, orderId, kind: 'refund', amount, currency, at };
    throw new CellError(`status "${status.slice(0, 20)}" is neither succeeded nor refunded`);
  },
};

export const PRESETS: Readonly<Record<StatementFormat, Preset>> = { wechat, alipay, stripe, paypal, generic };

/** A preset built from a column mapping, for a CSV no preset knows. */
export function mappedPreset(mapping: ColumnMapping): Preset {
  const refunds = new Set((mapping.refundValues ?? ['refund', 'refunded', '退款', 'REFUND']).map((v) => v.toLowerCase()));
  return {
    format: 'custom',
    label: 'custom column mapping',
    required: [
      mapping.paymentId,
      mapping.amount,
      mapping.time,
      ...[mapping.orderId, mapping.currency, mapping.status].filter((c): c is string => !!c),
    ].filter((c) => !/^\d+$/.test(c)),
    row(get) {
      const currency = (mapping.currency ? get(mapping.currency) : (mapping.defaultCurrency ?? '')).toUpperCase();
      if (!/^[A-Z]{3}$/.test(currency))
        throw new CellError(
          `currency "${currency.slice(0, 10)}" is not an ISO 4217 code (map a currency column or give a default)`,
        );
      const signed =
        mapping.amountUnit === 'minor' ? minorAmount(get(mapping.amount)) : majorAmount(get(mapping.amount), currency);
      const status = mapping.status ? get(mapping.status).toLowerCase() : '';
      const paymentId = get(mapping.paymentId);
      if (!paymentId) throw new CellError(`${mapping.paymentId} is empty`);
      const refund = refunds.has(status) || signed < 0;
      return {
        paymentId,
        refPaymentId: refund ? paymentId : null,
        orderId: mapping.orderId ? nonEmpty(get(mapping.orderId)) : null,
        kind: refund ? 'refund' : 'payment',
        amount: Math.abs(signed),
        currency,
        at: parseTime(get(mapping.time), mapping.utcOffset ?? '+00:00'),
      };
    },
  };
}

export { clean };
