/**
 * Dispute lookup and evidence export, through the admin app's RPC methods on both backends (the SQLite
 * file and a real PostgreSQL): an order is found by its id, the buyer's e-mail, a payment id or the code
 * itself (by fingerprint, never decrypting to search); a key's timeline shows every order that ever held
 * it; the CSV opens in Excel (BOM) and cannot run formulas. The history is made through the shop
 * (reserve, pay, refund, webhook, statement import); the last case runs one scripted history on both
 * backends and compares the answers and the CSV, ids aside.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { toCsv } from '../src-main/reconcile/export';
import { rangeContains } from '../src-main/reconcile/lookup';
import * as crypto from '../src-main/vault/crypto';
import {
  BACKEND_NAMES,
  startBackendShop,
  stopBackendServers,
  type BackendName,
  type BackendShopOptions,
} from './helpers/backend-shop';
import { rpcClient } from './helpers/rpc';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(() => stopBackendServers(), 60_000);

async function setup(backend: BackendName, keys: number, options: BackendShopOptions = {}) {
  const clock = options.clock ?? Date.now;
  const s = await startBackendShop(backend, { keys, ...options });
  cleanups.push(() => s.close());
  const { call, dispatch } = rpcClient(s.rpcContext('desktop:test'));
  const lookup = (query: string) => call('reconcile.lookup', { query });
  const reserve = async (email: string, quantity = 1) => {
    const { result } = await s.shop.reserve({ productId: s.productId, quantity, email });
    if (!result.ok) throw new Error(result.error.message);
    return result.value;
  };
  const webhookPay = async (orderId: string, eventId: string, amount = 5000) => {
    // Signed at the shop's own time (a test clock), which the webhook checks.
    const event = { id: eventId, orderId, amount, currency: 'CNY', status: 'succeeded' };
    const paid = await s.webhook(event, Math.floor(clock() / 1000));
    expect(paid.status).toBeLessThan(300);
  };
  const importBill = (csv: string) =>
    call('reconcile.importStatement', { fileName: 'bill.csv', base64: Buffer.from(csv).toString('base64') });
  return { ...s, dispatch, call, lookup, reserve, webhookPay, importBill };
}

describe.each(BACKEND_NAMES)('dispute lookup on %s', (backend) => {
  it('finds an order by id, e-mail (any case), webhook event, statement payment and pasted code, with one timeline', async () => {
    const s = await setup(backend, 3);
    // The first key is held by an order that is released, then sold to the buyer: its history names both.
    const lost = await s.reserve('other@example.com');
    await s.shop.releaseOrder(lost.id, 'tester');
    const id = (await s.reserve('Buyer@Example.com')).id;
    await s.webhookPay(id, 'evt_42');
    const at = new Date().toISOString();
    await s.importBill(`payment_id,order_id,amount,currency,status,created_at\n4200009999,${id},5000,CNY,succeeded,${at}\n`);
    const [code] = await s.shop.deliveredCodes(id);

    const open = vi.spyOn(crypto, 'open');
    expect(await s.lookup(id)).toMatchObject({ matchedBy: 'order', orders: [{ id }] });
    expect(await s.lookup('buyer@example.com')).toMatchObject({ matchedBy: 'email', orders: [{ id }] });
    expect(await s.lookup('evt_42')).toMatchObject({ matchedBy: 'payment', orders: [{ id }] });
    expect(await s.lookup('4200009999')).toMatchObject({ matchedBy: 'payment', orders: [{ id }] });
    const byCode = await s.lookup(`  ${code!}  `);
    expect(open).not.toHaveBeenCalled();
    expect(byCode).toMatchObject({
      // Masked: CODE-00000n as CO*******0n (which code is sold first differs: PostgreSQL numbers keys by fingerprint).
      query: `CO*******${code!.slice(-2)}`,
      matchedBy: 'code',
      orders: [{ id, status: 'delivered' }],
      keys: [{ status: 'sold', orderId: id }],
    });
    expect(await s.lookup('NOT-A-CODE')).toMatchObject({ matchedBy: 'none', orders: [], keys: [], timeline: [] });
    const blank = await s.dispatch('reconcile.lookup', { query: '   ' });
    expect(blank).toMatchObject({ ok: false, error: { code: 'validation_failed', message: expect.stringMatching(/look up/) } });

    const what = byCode.timeline.map((e) => `${e.source}:${e.what}:${e.orderId ?? '-'}`);
    expect(what).toEqual(
      expect.arrayContaining([
        'ledger:import:-',
        `ledger:reserve:${lost.id}`,
        `ledger:release:${lost.id}`,
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
    const s = await setup(backend, 1);
    const id = (await s.reserve('buyer@example.com')).id;
    await s.shop.pay({
      orderId: id,
      amount: 5000,
      currency: 'CNY',
      eventId: 'epay:2026120512345',
      source: 'epay',
      channel: { tradeNo: '2026120512345', via: 'notify' },
    });
    expect(await s.lookup('2026120512345')).toMatchObject({ matchedBy: 'payment', orders: [{ id }] });
  });

  it('exports a lookup as orders, keys and timeline rows', async () => {
    const s = await setup(backend, 1);
    const id = (await s.reserve('=cmd@example.com')).id;
    const { fileName, csv } = await s.call('reconcile.export', { kind: 'evidence', query: id });
    expect(fileName).toMatch(/^oncekey-evidence-.*\.csv$/);
    expect(csv.startsWith('\uFEFF')).toBe(true);
    const lines = csv.slice(1).split('\r\n');
    expect(lines[0]).toBe('section,at,ref,order,what,detail');
    expect(lines[1]).toMatch(new RegExp(`^order,[^,]+,${id},${id},reserved,`));
    expect(lines.some((l) => l.startsWith('key,,key 1,'))).toBe(true);
    expect(lines.some((l) => l.startsWith('ledger,'))).toBe(true);
  });
});

describe.each(BACKEND_NAMES)('dispute lookup after an action, on %s', (backend) => {
  it('shows audited actions and resolutions in the timeline', async () => {
    const s = await setup(backend, 2);
    const id = (await s.reserve('a@example.com')).id;
    await s.webhookPay(id, 'evt_short', 1);
    await s.call('reconcile.action', {
      action: 'resolve',
      targets: [{ findingId: `needs_review:${id}` }],
      note: 'buyer paid the rest by bank',
      preview: false,
    });
    const { timeline } = await s.lookup(id);
    expect(timeline).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          source: 'audit',
          what: 'reconcile.resolve',
          detail: expect.objectContaining({ actor: 'desktop:test' }),
        }),
        expect.objectContaining({
          source: 'resolution',
          ref: `needs_review:${id}`,
          detail: { actor: 'desktop:test', note: 'buyer paid the rest by bank' },
        }),
        expect.objectContaining({ source: 'ledger', what: 'review' }),
      ]),
    );
  });
});

describe('dispute lookup on both backends', () => {
  /** One history on a shop whose clock moves a second a step; the lookups' answers and the CSV, ids named. */
  async function history(backend: BackendName) {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const s = await setup(backend, 3, { clock: () => now });
    const step = () => (now += 1000);
    step(); // after the seeded codes' import, which the two helpers make differently (its time and detail are left out)
    const lost = await s.reserve('carol@example.com');
    step();
    await s.shop.releaseOrder(lost.id, 'tester');
    step();
    const a = await s.reserve('Alice@Example.com');
    step();
    await s.webhookPay(a.id, 'evt_a');
    step();
    const b = await s.reserve('alice@example.com', 2);
    step();
    await s.webhookPay(b.id, 'evt_b', 10000);
    step();
    await s.shop.refund({ orderId: b.id, keys: 'return', reason: 'never used', actor: 'tester' });
    step();
    await s.shop.addCodes(s.productId, ['MORE-000001']);
    step();
    // The returned keys sold again: their history names both buyers.
    const c = await s.reserve('dave@example.com', 2);
    step();
    await s.webhookPay(c.id, 'evt_c', 10000);
    step();
    const when = new Date(now).toISOString();
    await s.importBill(
      `payment_id,order_id,amount,currency,status,created_at\n` +
        `pay_b,${b.id},10000,CNY,succeeded,${when}\npay_a,${a.id},5000,CNY,succeeded,${when}\n`,
    );
    step();
    // Rows both backends store alike: an audit row and a resolution of A's finding, and one whose finding
    // id ends in A's id in other case (SQLite's LIKE would have matched it).
    await s.rows(
      `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'desktop:test', 'key.reveal', ?, '{}') RETURNING id`,
      now,
      a.id,
    );
    for (const findingId of [`needs_review:${a.id}`, `needs_review:${a.id.toUpperCase()}`, `needs_review:${a.id.toLowerCase()}`])
      await s.rows(
        `INSERT INTO finding_resolutions (finding_id, kind, action, note, actor, finding, resolved_at) VALUES (?, 'needs_review', 'resolve', 'ok', 'desktop:test', '{}', ?) RETURNING finding_id`,
        findingId,
        now,
      );
    // PostgreSQL's import gives the codes their ids in fingerprint order (pg/import.ts), not line order:
    // which code a key holds differs, so C's first code is looked up and its masked echo left out.
    const [codeOfC] = await s.shop.deliveredCodes(c.id);
    const answers = {
      byId: await s.lookup(a.id),
      byEmail: await s.lookup('ALICE@example.com'),
      byPayment: await s.lookup('pay_b'),
      byCode: await s.lookup(codeOfC!),
    };
    const csv = (await s.call('reconcile.export', { kind: 'evidence', query: 'alice@example.com' })).csv;
    let text = JSON.stringify({ answers, csv });
    for (const [id, name] of [
      [lost.id, 'LOST'],
      [a.id, 'A'],
      [b.id, 'B'],
      [c.id, 'C'],
      [s.productId, 'P'],
    ] as const)
      text = text.split(id).join(`<${name}>`);
    // A fingerprint is keyed by the shop's own vault.
    for (const k of Object.values(answers).flatMap((r) => r.keys)) text = text.split(k.fingerprint).join('<fp>');
    const shown = JSON.parse(text) as { answers: typeof answers; csv: string };
    expect(shown.answers.byCode.query).toMatch(/^CO\*{7}\d\d$/);
    shown.answers.byCode.query = '<masked>';
    const seeded = Object.values(shown.answers)
      .flatMap((r) => r.timeline)
      .filter((e) => e.ref === '#1');
    for (const e of seeded) {
      expect(e.what).toBe('import');
      Object.assign(e, { at: '<seeded>', detail: '<seeded>' });
    }
    // The CSV's seeded import line: `ledger,<at>,#1,,import,<detail>`.
    shown.csv = shown.csv.replace(/\r\nledger,[^,]+,#1,,import,[^\r]*/g, '\r\nledger,<seeded>,#1,,import,<seeded>');
    return shown;
  }

  it('the same history gives the same lookup answers and the same evidence CSV', async () => {
    const sqlite = await history('sqlite');
    const postgres = await history('postgres');
    const { byId, byEmail, byCode } = sqlite.answers;
    expect(byEmail.orders.map((o) => o.id)).toEqual(['<B>', '<A>']);
    expect(byCode.orders.map((o) => o.id)).toEqual(['<C>', '<B>']);
    expect(byId.timeline.filter((e) => e.source === 'resolution').map((e) => e.ref)).toEqual(['needs_review:<A>']);
    expect(byId.timeline.map((e) => `${e.source}:${e.what}`)).toEqual(
      expect.arrayContaining(['audit:key.reveal', 'statement:provider payment', 'payment:payment (delivered)']),
    );
    expect(postgres.answers).toEqual(sqlite.answers);
    expect(postgres.csv).toBe(sqlite.csv);
  });
});

describe('evidence CSV', () => {
  it('reads encoded key ranges without expanding them', () => {
    expect(rangeContains('1-3,7,9-10', 2)).toBe(true);
    expect(rangeContains('1-3,7,9-10', 7)).toBe(true);
    expect(rangeContains('1-3,7,9-10', 8)).toBe(false);
    expect(rangeContains('', 1)).toBe(false);
  });

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
});
