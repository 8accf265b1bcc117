/**
 * Statement parsers against synthetic bills in each provider's real layout (test/fixtures/statements):
 * amounts come out in integer minor units, times in UTC, fees and pending rows are skipped with a reason,
 * and a malformed file is refused whole. Storing a statement leaves out rows imported before.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { zipSync } from 'fflate';
import { afterEach, describe, expect, it } from 'vitest';
import { parseStatement } from '../src-main/reconcile/statements/parse';
import { listStatements, storeStatement } from '../src-main/reconcile/statements/store';
import { openShop } from './helpers/shop';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'statements', name));
const text = (s: string) => new TextEncoder().encode(s);
const utc = (iso: string) => Date.parse(iso);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('statement parsers', () => {
  it('wechat: backtick fields, yuan with or without ¥, Beijing time, REFUND rows, stops at the summary block', () => {
    const parsed = parseStatement(fixture('wechat-tradebill.csv'), { format: 'wechat' });
    expect(parsed.format).toBe('wechat');
    expect(parsed.rows).toEqual([
      {
        line: 2,
        paymentId: '4200001234202611240001',
        refPaymentId: null,
        orderId: 'ord_wx0001',
        kind: 'payment',
        amount: 5000,
        currency: 'CNY',
        at: utc('2026-11-24T01:15:02Z'),
      },
      {
        line: 3,
        paymentId: '4200001234202611240002',
        refPaymentId: null,
        orderId: 'ord_wx0002',
        kind: 'payment',
        amount: 10000,
        currency: 'CNY',
        at: utc('2026-11-24T03:40:37Z'),
      },
      {
        line: 5,
        paymentId: '50300000382026112407326788591',
        refPaymentId: '4200001234202611240001',
        orderId: 'ord_wx0001',
        kind: 'refund',
        amount: 5000,
        currency: 'CNY',
        at: utc('2026-11-24T12:48:59Z'),
      },
    ]);
    expect(parsed.skipped).toEqual([{ line: 4, reason: 'status REVOKED' }]);
    // The bill declares no period: the whole Beijing day its rows fall on, not its first and last row.
    expect([parsed.periodStart, parsed.periodEnd, parsed.periodRule]).toEqual([
      utc('2026-11-23T16:00:00Z'),
      utc('2026-11-24T15:59:59.999Z'),
      'row_days',
    ]);
  });

  it('alipay: GBK with # comment lines and tab-padded cells; fees skipped; the declared period is used', () => {
    const parsed = parseStatement(fixture('alipay-account-detail.csv'), { format: 'alipay' });
    expect(parsed.encoding).toBe('gb18030');
    expect(parsed.rows.map(({ line: _line, ...r }) => r)).toEqual([
      {
        paymentId: '2026112422001412340500000001',
        refPaymentId: null,
        orderId: 'ord_ali0001',
        kind: 'payment',
        amount: 5000,
        currency: 'CNY',
        at: utc('2026-11-24T02:05:00Z'),
      },
      {
        paymentId: '2026112422001412340500000002',
        refPaymentId: null,
        orderId: 'ord_ali0002',
        kind: 'payment',
        amount: 10000,
        currency: 'CNY',
        at: utc('2026-11-24T06:30:12Z'),
      },
      {
        paymentId: '20261124200040011100150000000004',
        refPaymentId: '2026112422001412340500000001',
        orderId: 'ord_ali0001',
        kind: 'refund',
        amount: 5000,
        currency: 'CNY',
        at: utc('2026-11-24T13:00:00Z'),
      },
    ]);
    expect(parsed.skipped.map((s) => s.reason)).toEqual(['业务类型 收费']);
    expect([parsed.periodStart, parsed.periodEnd]).toEqual([utc('2026-11-23T16:00:00Z'), utc('2026-11-24T16:00:00Z')]);
  });

  it('alipay: the same bill zipped (detail picked over the summary file) parses the same', () => {
    const plain = parseStatement(fixture('alipay-account-detail.csv'), { format: 'alipay' });
    const zipped = parseStatement(fixture('alipay-account-detail.zip'), { format: 'alipay' });
    expect(zipped.rows).toEqual(plain.rows);
  });

  it('stripe: charges and payments, refunds tied to their charge, fees and payouts skipped, zero-decimal JPY', () => {
    const parsed = parseStatement(fixture('stripe-balance-history.csv'), { format: 'stripe' });
    expect(parsed.rows.map(({ line: _line, ...r }) => r)).toEqual([
      {
        paymentId: 'ch_3QaB1cL2kR8sT4u5v6w7x8y',
        refPaymentId: null,
        orderId: 'ord_st0001',
        kind: 'payment',
        amount: 2500,
        currency: 'USD',
        at: utc('2026-11-24T08:01:00Z'),
      },
      {
        paymentId: 'py_3QaB2dM3lS9tU5v6w7x8y9z',
        refPaymentId: null,
        orderId: 'ord_st0002',
        kind: 'payment',
        amount: 125000,
        currency: 'USD',
        at: utc('2026-11-24T12:30:45Z'),
      },
      {
        paymentId: 're_3QaB1cL2kR8sT4u5a1b2c3d',
        refPaymentId: 'ch_3QaB1cL2kR8sT4u5v6w7x8y',
        orderId: 'ord_st0001',
        kind: 'refund',
        amount: 2500,
        currency: 'USD',
        at: utc('2026-11-24T18:22:00Z'),
      },
      {
        paymentId: 'ch_3QaB6hQ7pW3xY9z0a1b2c3d',
        refPaymentId: null,
        orderId: 'ord_st0003',
        kind: 'payment',
        amount: 5000,
        currency: 'JPY',
        at: utc('2026-11-24T21:10:00Z'),
      },
    ]);
    expect(parsed.skipped.map((s) => s.reason)).toEqual(['type stripe_fee', 'type payout']);
  });

  it('paypal: US dates in the row time zone, thousands separators, invoice or custom number, pending and conversions skipped', () => {
    const parsed = parseStatement(fixture('paypal-activity.csv'), { format: 'paypal' });
    expect(parsed.rows.map(({ line: _line, ...r }) => r)).toEqual([
      {
        paymentId: '5TY05013RG002845M',
        refPaymentId: null,
        orderId: 'ord_pp0001',
        kind: 'payment',
        amount: 5000,
        currency: 'USD',
        at: utc('2026-11-24T09:15:30Z'),
      },
      {
        paymentId: '8MC585209K746392H',
        refPaymentId: null,
        orderId: 'ord_pp0002',
        kind: 'payment',
        amount: 100000,
        currency: 'USD',
        at: utc('2026-11-24T17:02:00Z'),
      },
      {
        paymentId: '0JF852973C016714D',
        refPaymentId: '5TY05013RG002845M',
        orderId: 'ord_pp0001',
        kind: 'refund',
        amount: 5000,
        currency: 'USD',
        at: utc('2026-11-25T00:45:10Z'),
      },
    ]);
    expect(parsed.skipped.map((s) => s.reason)).toEqual(['status Pending', 'type General Currency Conversion']);
  });

  it('generic: minor units, succeeded|refunded, ISO times with or without an offset (UTC then)', () => {
    const parsed = parseStatement(fixture('generic.csv'), { format: 'generic' });
    expect(parsed.rows.map(({ line: _line, ...r }) => r)).toEqual([
      {
        paymentId: 'pay_0001',
        refPaymentId: null,
        orderId: 'ord_gen0001',
        kind: 'payment',
        amount: 5000,
        currency: 'CNY',
        at: utc('2026-11-24T01:00:00Z'),
      },
      {
        paymentId: 'pay_0002',
        refPaymentId: null,
        orderId: 'ord_gen0002',
        kind: 'payment',
        amount: 10000,
        currency: 'CNY',
        at: utc('2026-11-24T01:30:00Z'),
      },
      {
        paymentId: 'pay_0003',
        refPaymentId: null,
        orderId: null,
        kind: 'payment',
        amount: 5000,
        currency: 'CNY',
        at: utc('2026-11-24T03:00:00Z'),
      },
      {
        paymentId: 'pay_0001',
        refPaymentId: 'pay_0001',
        orderId: 'ord_gen0001',
        kind: 'refund',
        amount: 5000,
        currency: 'CNY',
        at: utc('2026-11-24T05:00:00Z'),
      },
    ]);
  });

  it('recognises each preset from its header when no format is given', () => {
    const cases: [string, string][] = [
      ['wechat-tradebill.csv', 'wechat'],
      ['alipay-account-detail.zip', 'alipay'],
      ['stripe-balance-history.csv', 'stripe'],
      ['paypal-activity.csv', 'paypal'],
      ['generic.csv', 'generic'],
    ];
    for (const [file, format] of cases) expect(parseStatement(fixture(file)).format).toBe(format);
  });

  it('maps the columns of a CSV no preset knows (names or numbers, yuan, +08:00, negative = refund)', () => {
    const csv = iconv.encode(
      '流水号;订单;金额;时间\nT1;ord_a;12.50;2026-11-24 08:00:00\nT2;ord_a;-12.50;2026-11-24 09:00:00\n'.replaceAll(';', ','),
      'gbk',
    );
    const parsed = parseStatement(csv, {
      mapping: {
        paymentId: '流水号',
        orderId: '2',
        amount: '金额',
        time: '时间',
        defaultCurrency: 'CNY',
        amountUnit: 'major',
        utcOffset: '+08:00',
      },
    });
    expect(parsed.format).toBe('custom');
    expect(parsed.rows.map((r) => [r.paymentId, r.orderId, r.kind, r.amount, new Date(r.at).toISOString()])).toEqual([
      ['T1', 'ord_a', 'payment', 1250, '2026-11-24T00:00:00.000Z'],
      ['T2', 'ord_a', 'refund', 1250, '2026-11-24T01:00:00.000Z'],
    ]);
  });

  it('refuses the wrong preset, a malformed row (naming its line), an impossible date, an empty or binary file', () => {
    expect(() => parseStatement(fixture('generic.csv'), { format: 'wechat' })).toThrow(/not a WeChat Pay trade bill file/);
    expect(() =>
      parseStatement(
        text('payment_id,order_id,amount,currency,status,created_at\np1,o1,50.00,CNY,succeeded,2026-11-24T00:00:00Z\n'),
        { format: 'generic' },
      ),
    ).toThrow(/line 2: "50.00" is not a whole number of minor units; nothing was imported/);
    expect(() =>
      parseStatement(text('payment_id,order_id,amount,currency,status,created_at\np1,o1,5,CNY,succeeded,2026-02-30 10:00\n')),
    ).toThrow(/line 2: .*not a valid date/);
    expect(() =>
      parseStatement(text('payment_id,order_id,amount,currency,status,created_at\np1,o1,5,CNY,disputed,2026-02-03\n')),
    ).toThrow(/neither succeeded nor refunded/);
    expect(() => parseStatement(text('payment_id,order_id,amount,currency,status,created_at\n'))).toThrow(
      /holds no payments or refunds/,
    );
    expect(() => parseStatement(new Uint8Array(0))).toThrow(/empty/);
    expect(() => parseStatement(Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 1))).toThrow(/binary/);
    expect(() => parseStatement(zipSync({ 'readme.md': text('hi') }))).toThrow(/holds no .csv/);
    expect(() => parseStatement(text('a,b,c\n1,2,3\n'))).toThrow(/format was not recognised/);
  });

  it('stores a statement in one go, leaves out rows imported before, and refuses one with nothing new', async () => {
    const shop = await openShop({ keys: 0 });
    cleanups.push(shop.cleanup);
    const { engine } = shop;
    const parsed = parseStatement(fixture('generic.csv'), { format: 'generic' });
    const first = await engine.writer.run((db, now) =>
      storeStatement(db, parsed, { source: 'generic.csv', actor: 'tester', now }),
    );
    expect(first).toMatchObject({
      imported: 4,
      duplicates: 0,
      statement: {
        format: 'generic',
        rows: 4,
        source: 'generic.csv',
        periodStart: '2026-11-23T16:00:00.000Z',
        periodEnd: '2026-11-24T15:59:59.999Z',
        periodRule: 'row_days',
      },
    });
    const overlap = parseStatement(
      text(
        'payment_id,order_id,amount,currency,status,created_at\npay_0002,ord_gen0002,10000,CNY,succeeded,2026-11-24T01:30:00Z\npay_0009,ord_x,1,CNY,succeeded,2026-11-25T01:30:00Z\n',
      ),
    );
    const second = await engine.writer.run((db, now) =>
      storeStatement(db, overlap, { source: 'next.csv', actor: 'tester', now }),
    );
    expect(second).toMatchObject({ imported: 1, duplicates: 1 });
    await expect(
      engine.writer.run((db, now) => storeStatement(db, overlap, { source: 'again.csv', actor: 'tester', now })),
    ).rejects.toThrow(/nothing new/);
    expect(listStatements(engine.db).map((s) => s.source)).toEqual(['next.csv', 'generic.csv']);
    expect(engine.db.prepare('SELECT count(*) FROM statement_rows').pluck().get()).toBe(5);
    expect(engine.db.prepare(`SELECT actor, action FROM audit WHERE action = 'reconcile.import_statement'`).all()).toHaveLength(
      2,
    );
  });
});
