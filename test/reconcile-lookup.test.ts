/**
 * Dispute lookup and evidence export: an order is found by its id, the buyer's e-mail, a payment id
 * or the code itself (by fingerprint, never decrypting to search); a key's timeline shows every order
 * that ever held it; the CSV opens in Excel (BOM) and cannot run formulas.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { evidenceCsv, toCsv } from '../src-main/reconcile/export';
import { lookup, rangeContains } from '../src-main/reconcile/lookup';
import { importStatement, runActions } from '../src-main/reconcile/service';
import * as crypto from '../src-main/vault/crypto';
import { openShop } from './helpers/shop';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('dispute lookup', () => {
  it('finds an order by id, e-mail (any case), webhook event, statement payment and pasted code, with one timeline', async () => {
    const shop = await openShop({ keys: 3 });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    // The first key is held by an order that expires, then sold to the buyer: its history names both.
    const { result: lost } = await engine.reserve({ productId, quantity: 1, email: 'other@example.com' });
    if (!lost.ok) throw new Error('sold out');
    await engine.releaseOrder(lost.value.id, 'tester');
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'Buyer@Example.com' });
    if (!result.ok) throw new Error('sold out');
    const id = result.value.id;
    await engine.pay({ orderId: id, amount: 5000, currency: 'CNY', eventId: 'evt_42', source: 'webhook' });
    const at = new Date().toISOString();
    await importStatement(engine, {
      bytes: new TextEncoder().encode(
        `payment_id,order_id,amount,currency,status,created_at\n4200009999,${id},5000,CNY,succeeded,${at}\n`,
      ),
      fileName: 'bill.csv',
      actor: 'tester',
    });
    const [code] = await engine.deliveredCodes(id);

    const open = vi.spyOn(crypto, 'open');
    expect(lookup(engine.db, engine.vault, id)).toMatchObject({ matchedBy: 'order', orders: [{ id }] });
    expect(lookup(engine.db, engine.vault, 'buyer@example.com')).toMatchObject({ matchedBy: 'email', orders: [{ id }] });
    expect(lookup(engine.db, engine.vault, 'evt_42')).toMatchObject({ matchedBy: 'payment', orders: [{ id }] });
    expect(lookup(engine.db, engine.vault, '4200009999')).toMatchObject({ matchedBy: 'payment', orders: [{ id }] });
    const byCode = lookup(engine.db, engine.vault, `  ${code!}  `);
    expect(open).not.toHaveBeenCalled();
    expect(byCode).toMatchObject({
      query: 'CO*******00',
      matchedBy: 'code',
      orders: [{ id, status: 'delivered' }],
      keys: [{ status: 'sold', orderId: id }],
    });
    expect(lookup(engine.db, engine.vault, 'NOT-A-CODE')).toMatchObject({
      matchedBy: 'none',
      orders: [],
      keys: [],
      timeline: [],
    });
    expect(() => lookup(engine.db, engine.vault, '   ')).toThrow(/look up/);

    const what = byCode.timeline.map((e) => `${e.source}:${e.what}:${e.orderId ?? '-'}`);
    expect(what).toEqual(
      expect.arrayContaining([
        'ledger:import:-',
        `ledger:reserve:${lost.value.id}`,
        `ledger:release:${lost.value.id}`,
        `ledger:reserve:${id}`,
        `ledger:sell:${id}`,
        `order:created:${id}`,
        `delivery:delivered:${id}`,
        `payment:payment (delivered):${id}`,
        `statement:provider payment:${id}`,
      ]),
    );
    const times = byCode.timeline.map((e) => e.at);
    expect([...times].sort()).toEqual(times);
    // The plaintext code is in no event.
    expect(JSON.stringify(byCode)).not.toContain(code);
  });

  it("finds an order paid through a channel by the gateway's trade number, as the buyer's receipt shows it", async () => {
    const shop = await openShop({ keys: 1 });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'buyer@example.com' });
    if (!result.ok) throw new Error('sold out');
    const id = result.value.id;
    await engine.pay({
      orderId: id,
      amount: 5000,
      currency: 'CNY',
      eventId: 'epay:2026120512345',
      source: 'epay',
      channel: { tradeNo: '2026120512345', via: 'notify' },
    });
    expect(lookup(engine.db, engine.vault, '2026120512345')).toMatchObject({ matchedBy: 'payment', orders: [{ id }] });
  });

  it('shows audited actions and resolutions in the timeline', async () => {
    const shop = await openShop({ keys: 2 });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'a@example.com' });
    if (!result.ok) throw new Error('sold out');
    await engine.pay({ orderId: result.value.id, amount: 1, currency: 'CNY', eventId: 'evt_short', source: 'webhook' });
    await runActions(engine, 'agent-cy', {
      action: 'resolve',
      targets: [{ findingId: `needs_review:${result.value.id}` }],
      note: 'buyer paid the rest by bank',
      preview: false,
    });
    const timeline = lookup(engine.db, engine.vault, result.value.id).timeline;
    expect(timeline).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          source: 'audit',
          what: 'reconcile.resolve',
          detail: expect.objectContaining({ actor: 'agent-cy' }),
        }),
        expect.objectContaining({
          source: 'resolution',
          ref: `needs_review:${result.value.id}`,
          detail: { actor: 'agent-cy', note: 'buyer paid the rest by bank' },
        }),
        expect.objectContaining({ source: 'ledger', what: 'review' }),
      ]),
    );
  });

  it('reads encoded key ranges without expanding them', () => {
    expect(rangeContains('1-3,7,9-10', 2)).toBe(true);
    expect(rangeContains('1-3,7,9-10', 7)).toBe(true);
    expect(rangeContains('1-3,7,9-10', 8)).toBe(false);
    expect(rangeContains('', 1)).toBe(false);
  });
});

describe('evidence CSV', () => {
  it('starts with a BOM, quotes per RFC 4180 and defuses formula cells', () => {
    const csv = toCsv(
      ['a', 'b'],
      [
        ['=HYPERLINK("http://x")', '+1'],
        ['-2', '@SUM(A1)'],
        ['\tTAB', '\rCR'],
        ['plain, with comma', 'say "hi"'],
        [-5, null],
        ['中文 ok', true],
      ],
    );
    expect(csv.startsWith('\uFEFFa,b\r\n')).toBe(true);
    expect(csv.split('\r\n').slice(1, -1)).toEqual([
      `"'=HYPERLINK(""http://x"")",'+1`,
      `'-2,'@SUM(A1)`,
      `'\tTAB,"'\rCR"`,
      '"plain, with comma","say ""hi"""',
      '-5,',
      '中文 ok,true',
    ]);
  });

  it('exports a lookup as orders, keys and timeline rows', async () => {
    const shop = await openShop({ keys: 1 });
    cleanups.push(shop.cleanup);
    const { engine, productId } = shop;
    const { result } = await engine.reserve({ productId, quantity: 1, email: '=cmd@example.com' });
    if (!result.ok) throw new Error('sold out');
    const csv = evidenceCsv(lookup(engine.db, engine.vault, result.value.id));
    const lines = csv.slice(1).split('\r\n');
    expect(lines[0]).toBe('section,at,ref,order,what,detail');
    expect(lines[1]).toMatch(new RegExp(`^order,[^,]+,${result.value.id},${result.value.id},reserved,`));
    expect(lines.some((l) => l.startsWith('key,,key 1,'))).toBe(true);
    expect(lines.some((l) => l.startsWith('ledger,'))).toBe(true);
  });
});
