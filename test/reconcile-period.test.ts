/**
 * A statement's period is honest: the period the bill declares, else the whole days its rows cover in
 * the shop's time zone (Asia/Shanghai for CNY, UTC otherwise, or the one given), else `--from/--to`
 * (which always win). An order paid inside the period that the bill lacks is reported even when it was
 * paid before the bill's first row or after its last: a WeChat bill for 2026-12-04 whose last row is at
 * 18:00 misses the orders paid at 22:30 and 23:59 Beijing time, and not the one paid at 00:10 on 12-05
 * (16:10 UTC on 12-04). Time-zone edges are checked for a zone without daylight saving and one with it.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcile } from '../src-main/reconcile/run';
import { importStatement } from '../src-main/reconcile/service';
import { parseStatement } from '../src-main/reconcile/statements/parse';
import { periodBound, statementPeriod, wholeDays } from '../src-main/reconcile/statements/period';
import { openShop } from './helpers/shop';

const utc = (text: string): number => Date.parse(text);
const iso = (ms: number): string => new Date(ms).toISOString();

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const WECHAT_HEADER = readFileSync(new URL('./fixtures/statements/wechat-tradebill.csv', import.meta.url), 'utf8').split(
  '\n',
)[0]!;

/** A WeChat Pay trade bill (交易账单) with one SUCCESS row per [Beijing time, order id]. */
function wechatBill(rows: readonly [string, string][]): Uint8Array {
  const lines = rows.map(
    ([time, orderId], i) =>
      `\`${time},\`wx2421b1c4370ec43b,\`1900000109,\`0,\`,\`42000012342026120400${String(i).padStart(2, '0')},\`${orderId},\`oUpF8u,\`NATIVE,\`SUCCESS,\`OTHERS,\`CNY,\`50.00,\`0.00,\`0,\`0,\`0.00,\`0.00,\`,\`,\`Steam 50,\`,\`0.30000,\`0.60%,\`50.00,\`0.00,\``,
  );
  return new TextEncoder().encode([WECHAT_HEADER, ...lines, '总交易单数,应结订单总金额', `\`${rows.length},\`¥0.00`].join('\n'));
}

describe('whole days in a time zone', () => {
  it('Asia/Shanghai (no daylight saving): a day is 24 hours from 16:00 UTC the day before', () => {
    const days = wholeDays(utc('2026-12-04T01:00:00Z'), utc('2026-12-04T10:00:00Z'), 'Asia/Shanghai');
    expect([iso(days.start), iso(days.end)]).toEqual(['2026-12-03T16:00:00.000Z', '2026-12-04T15:59:59.999Z']);
    // 00:10 on 12-05 in Beijing is still 12-04 in UTC, and the next day in Shanghai.
    const late = wholeDays(utc('2026-12-04T16:10:00Z'), utc('2026-12-04T16:10:00Z'), 'Asia/Shanghai');
    expect(iso(late.start)).toBe('2026-12-04T16:00:00.000Z');
  });

  it('America/New_York: the spring-forward day has 23 hours and the fall-back day 25', () => {
    const spring = wholeDays(utc('2026-03-08T15:00:00Z'), utc('2026-03-08T15:00:00Z'), 'America/New_York');
    expect([iso(spring.start), iso(spring.end)]).toEqual(['2026-03-08T05:00:00.000Z', '2026-03-09T03:59:59.999Z']);
    expect(spring.end + 1 - spring.start).toBe(23 * 3600_000);
    const fall = wholeDays(utc('2026-11-01T15:00:00Z'), utc('2026-11-01T15:00:00Z'), 'America/New_York');
    expect([iso(fall.start), iso(fall.end)]).toEqual(['2026-11-01T04:00:00.000Z', '2026-11-02T04:59:59.999Z']);
    expect(fall.end + 1 - fall.start).toBe(25 * 3600_000);
  });

  it('reads --from/--to as whole local days or as times with their offset, and refuses anything else', () => {
    expect(iso(periodBound('2026-12-04', 'from', 'Asia/Shanghai'))).toBe('2026-12-03T16:00:00.000Z');
    expect(iso(periodBound('2026-12-04', 'to', 'Asia/Shanghai'))).toBe('2026-12-04T15:59:59.999Z');
    expect(iso(periodBound('2026-12-04T18:00:00+08:00', 'to', 'UTC'))).toBe('2026-12-04T10:00:00.000Z');
    expect(() => periodBound('2026-02-30', 'from', 'UTC')).toThrow(/not a date/);
    expect(() => periodBound('2026-12-04 18:00', 'to', 'UTC')).toThrow(/offset/);
    expect(() => statementPeriod({ rows: [{ at: 0, currency: 'USD' }], declared: null, timeZone: 'Mars/Olympus' })).toThrow(
      /time zone/,
    );
    expect(() =>
      statementPeriod({ rows: [{ at: 0, currency: 'USD' }], declared: null, given: { from: '2026-12-05', to: '2026-12-04' } }),
    ).toThrow(/before it starts/);
  });

  it('takes the given period first, then the declared one, then the rows’ whole days (UTC for a non-CNY bill)', () => {
    const rows = [{ at: utc('2026-12-04T10:00:00Z'), currency: 'USD' }];
    const declared = { start: utc('2026-12-01T00:00:00Z'), end: utc('2026-12-07T00:00:00Z') };
    expect(statementPeriod({ rows, declared: null })).toMatchObject({
      start: utc('2026-12-04T00:00:00Z'),
      end: utc('2026-12-04T23:59:59.999Z'),
      rule: 'row_days',
      timeZone: 'UTC',
    });
    expect(statementPeriod({ rows, declared })).toMatchObject({ ...declared, rule: 'declared' });
    expect(statementPeriod({ rows, declared, given: { from: '2026-12-04', to: '2026-12-05' } })).toMatchObject({
      start: utc('2026-12-04T00:00:00Z'),
      end: utc('2026-12-05T23:59:59.999Z'),
      rule: 'given',
    });
  });
});

describe('a bill missing the day’s last payments', () => {
  it('reports orders paid after the bill’s last row and before its first, inside the Beijing day, and not the next day’s', async () => {
    let now = utc('2026-12-03T23:00:00Z'); // 07:00 on 12-04 in Beijing
    const shop = await openShop({ keys: 10, clock: () => now });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    const paidAt = async (beijing: string): Promise<string> => {
      now = utc(`${beijing}+08:00`);
      const { result } = await engine.reserve({ productId, quantity: 1, email: 'buyer@example.com' });
      if (!result.ok) throw new Error(result.error.message);
      await engine.pay({
        orderId: result.value.id,
        amount: 5000,
        currency: 'CNY',
        eventId: `evt_${result.value.id}`,
        source: 'webhook',
      });
      return result.value.id;
    };
    const early = await paidAt('2026-12-04T08:00:00'); // before the bill's first row
    const inBill = await paidAt('2026-12-04T09:15:02');
    const last = await paidAt('2026-12-04T18:00:00');
    const evening = await paidAt('2026-12-04T22:30:00');
    const midnight = await paidAt('2026-12-04T23:59:00');
    const nextDay = await paidAt('2026-12-05T00:10:00'); // 16:10 UTC on 12-04
    expect(engine.getOrder(nextDay)?.paidAt).toBe('2026-12-04T16:10:00.000Z');

    const imported = await importStatement(engine, {
      bytes: wechatBill([
        ['2026-12-04 09:15:02', inBill],
        ['2026-12-04 18:00:00', last],
      ]),
      fileName: 'wechat-2026-12-04.csv',
      format: 'wechat',
      actor: 'tester',
    });
    expect(imported.statement).toMatchObject({
      periodStart: '2026-12-03T16:00:00.000Z',
      periodEnd: '2026-12-04T15:59:59.999Z',
      periodRule: 'row_days',
    });
    expect(imported.timeZone).toBe('Asia/Shanghai');
    const missing = reconcile(engine.db, { statementIds: [imported.statement!.id] }).findings.filter(
      (f) => f.kind === 'order_paid_missing_in_statement',
    );
    expect(missing.map((f) => f.orderId).sort()).toEqual([early, evening, midnight].sort());
    expect(missing[0]?.evidence.find((e) => e.source === 'statement')?.fields).toMatchObject({
      periodRule: 'row_days',
      periodEnd: '2026-12-04T15:59:59.999Z',
    });
  });

  it('uses --from/--to when given, and the declared period of an Alipay bill otherwise', () => {
    const bill = wechatBill([['2026-12-04 09:15:02', 'ord_a']]);
    const given = parseStatement(bill, { format: 'wechat', from: '2026-12-04T00:00:00+08:00', to: '2026-12-04T12:00:00+08:00' });
    expect([iso(given.periodStart!), iso(given.periodEnd!), given.periodRule]).toEqual([
      '2026-12-03T16:00:00.000Z',
      '2026-12-04T04:00:00.000Z',
      'given',
    ]);
    const zoned = parseStatement(bill, { format: 'wechat', timeZone: 'UTC' });
    expect([iso(zoned.periodStart!), iso(zoned.periodEnd!)]).toEqual(['2026-12-04T00:00:00.000Z', '2026-12-04T23:59:59.999Z']);
    const alipay = parseStatement(readFileSync(new URL('./fixtures/statements/alipay-account-detail.csv', import.meta.url)), {
      format: 'alipay',
    });
    expect(alipay.periodRule).toBe('declared');
  });
});
