/**
 * Payment statements stored on PostgreSQL as on SQLite: the same bill imported into a shop of each
 * backend with the same history gives the same import result, the same stored rows and audit record and
 * the same findings, through the admin app's RPC methods (reconcile.importStatement, reconcile.statements,
 * reconcile.run with and without statementIds); importing it again stores nothing (its rows counted as
 * duplicates); two PostgreSQL servers importing overlapping bills at once store each row once; and the
 * CLI prints the same on both. PostgreSQL is a real server (test/helpers/postgres.ts); the CLI a real process.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ReconcileReport } from '../shared/reconcile';
import type { MethodName, Output, RpcReply } from '../shared/rpc';
import { PgShop } from '../src-main/pg/shop';
import { runReconcilePgShop } from '../src-main/reconcile/postgres';
import { importStatementPg } from '../src-main/reconcile/service';
import { Dispatcher } from '../src-main/rpc/dispatcher';
import { HANDLERS } from '../src-main/rpc/handlers';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { BACKEND_NAMES, startBackendShop, stopBackendServers, type BackendName, type BackendShop } from './helpers/backend-shop';
import { runCli } from './helpers/cli';
import { openShop } from './helpers/shop';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'statements');
const NOW = Date.UTC(2026, 11, 7, 4); // noon in Shanghai, where a CNY bill's days are counted
const AT = '2026-12-07T04:00:00Z';
const HEADER = 'payment_id,order_id,amount,currency,status,created_at';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => stopBackendServers(), 60_000);

const b64 = (text: string | Buffer) => (typeof text === 'string' ? Buffer.from(text, 'utf8') : text).toString('base64');

interface Side {
  readonly backend: BackendName;
  readonly s: BackendShop;
  call<M extends MethodName>(method: M, input: unknown): Promise<Output<M>>;
  reply(method: MethodName, input: unknown): Promise<RpcReply>;
  /** This shop's ids (orders, products) and the names both shops share for them. */
  readonly names: Map<string, string>;
  readonly orders: Record<'paid' | 'short' | 'unpaid' | 'refunded', string>;
}

/** A shop on `backend` with the same history on both: three paid orders (one refunded), one unpaid. */
async function side(backend: BackendName): Promise<Side> {
  const s = await startBackendShop(backend, { keys: 4, clock: () => NOW });
  cleanups.push(() => s.close());
  const dispatcher = new Dispatcher(HANDLERS);
  const ctx = s.rpcContext('desktop:agent');
  const buy = async (email: string, pay: boolean): Promise<string> => {
    const { result } = await s.shop.reserve({ productId: s.productId, quantity: 1, email });
    if (!result.ok) throw new Error(result.error.message);
    if (pay)
      await s.shop.pay({ orderId: result.value.id, amount: 5000, currency: 'CNY', eventId: `evt_${email}`, source: 'webhook' });
    return result.value.id;
  };
  const orders = {
    paid: await buy('a@example.com', true),
    short: await buy('b@example.com', true),
    unpaid: await buy('c@example.com', false),
    refunded: await buy('d@example.com', true),
  };
  await s.shop.refund({ orderId: orders.refunded, keys: 'burn', reason: 'test', actor: 'support' });
  const names = new Map<string, string>([
    [s.productId, '<product>'],
    ...Object.entries(orders).map(([k, id]) => [id, `<${k}>`] as [string, string]),
  ]);
  return {
    backend,
    s,
    orders,
    names,
    reply: (method, input) => dispatcher.dispatch(method, input, ctx),
    call: async <M extends MethodName>(method: M, input: unknown) => {
      const reply = await dispatcher.dispatch(method, input, ctx);
      if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
      return reply.value as Output<M>;
    },
  };
}

/** `value` as JSON with the shop's own ids replaced by the shared names. */
function normalize(value: unknown, names: ReadonlyMap<string, string>): unknown {
  let text = JSON.stringify(value);
  for (const [id, name] of names) text = text.split(id).join(name);
  return JSON.parse(text);
}

/** The day's bill: a match, a short payment, one for an unpaid order, one for no order, refunds, a repeated line. */
const dayBill = (o: Side['orders']) =>
  [
    HEADER,
    `pay-paid,${o.paid},5000,CNY,succeeded,${AT}`,
    `pay-short,${o.short},4000,CNY,succeeded,${AT}`,
    `pay-unpaid,${o.unpaid},5000,CNY,succeeded,${AT}`,
    `pay-ghost,ord_ghost,5000,CNY,succeeded,${AT}`,
    `pay-refunded,${o.refunded},5000,CNY,succeeded,${AT}`,
    `pay-refunded,${o.refunded},5000,CNY,refunded,${AT}`,
    `pay-paid,${o.paid},5000,CNY,refunded,${AT}`,
    `pay-paid,${o.paid},5000,CNY,succeeded,${AT}`,
  ].join('\n');

const openCounts = (report: ReconcileReport) =>
  Object.fromEntries(
    Object.entries(report.counts)
      .filter(([, c]) => c.open > 0)
      .map(([k, c]) => [k, c.open]),
  );

describe('statements stored on either backend (RPC)', () => {
  it(
    'the same bill gives the same import, rows, audit and findings on SQLite and PostgreSQL; again it stores nothing',
    { timeout: 120_000 },
    async () => {
      const seen: Record<string, unknown>[] = [];
      for (const backend of BACKEND_NAMES) {
        const x = await side(backend);
        const n = (value: unknown) => normalize(value, x.names);
        const out: Record<string, unknown> = {};
        expect(await x.call('reconcile.statements', {})).toEqual({ statements: [] });
        out.imported = await x.call('reconcile.importStatement', {
          fileName: 'bill.csv',
          base64: b64(dayBill(x.orders)),
          format: 'generic',
        });
        expect(out.imported, backend).toMatchObject({
          imported: 7,
          duplicates: 1,
          statement: { id: 1, rows: 7, source: 'bill.csv' },
        });
        out.statements = await x.call('reconcile.statements', {});
        const all = await x.call('reconcile.run', {});
        const one = await x.call('reconcile.run', { statementIds: [1] });
        expect(openCounts(all), backend).toEqual({
          amount_mismatch: 1,
          statement_paid_order_unpaid: 1,
          statement_payment_unknown_order: 1,
          statement_refund_not_applied: 1,
        });
        expect(one.statementIds).toEqual([1]);
        expect(one.findings).toEqual(all.findings);
        out.findings = n(all);

        // Again: every row imported before, refused and nothing stored.
        const again = await x.reply('reconcile.importStatement', {
          fileName: 'bill.csv',
          base64: b64(dayBill(x.orders)),
          format: 'generic',
        });
        expect(again, backend).toEqual({
          ok: false,
          error: { code: 'validation_failed', message: 'every one of the 8 row(s) was imported before; nothing new to store' },
        });
        // A next bill overlapping it: only its new row is stored.
        out.next = await x.call('reconcile.importStatement', {
          fileName: 'next.csv',
          base64: b64(`${HEADER}\npay-ghost,ord_ghost,5000,CNY,succeeded,${AT}\npay-new,ord_new,700,CNY,succeeded,${AT}\n`),
          format: 'generic',
        });
        expect(out.next).toMatchObject({ imported: 1, duplicates: 1, statement: { id: 2, rows: 1 } });
        const second = await x.call('reconcile.run', { statementIds: [2] });
        expect(second.statementIds).toEqual([2]);
        // Against it alone, the paid orders it does not list are missing from it.
        expect(openCounts(second)).toEqual({ statement_payment_unknown_order: 1, order_paid_missing_in_statement: 3 });
        expect(second.findings.map((f) => f.id)).toContain('statement_payment_unknown_order:pay-new');
        out.second = n(second);
        // A big shop's run goes to a worker thread with its own connection: the same report.
        if (x.s.shop instanceof PgShop)
          expect(await runReconcilePgShop(x.s.shop, { statementIds: [2], worker: 'always' })).toEqual(second);
        expect((await x.call('reconcile.run', {})).statementIds).toEqual([1, 2]);
        out.list = (await x.call('reconcile.statements', {})).statements.map((st) => [st.id, st.source, st.rows]);

        // The provider's presets, and the zip of a bill imported before (nothing new: refused).
        for (const [file, format] of [
          ['wechat-tradebill.csv', 'wechat'],
          ['alipay-account-detail.csv', 'alipay'],
          ['stripe-balance-history.csv', 'stripe'],
          ['paypal-activity.csv', 'paypal'],
          ['alipay-account-detail.zip', 'alipay'],
        ] as const) {
          out[file] = await x.reply('reconcile.importStatement', {
            fileName: file,
            base64: b64(readFileSync(join(FIXTURES, file))),
            format,
          });
        }
        expect(out['alipay-account-detail.zip']).toMatchObject({ ok: false, error: { code: 'validation_failed' } });
        out.afterPresets = n(await x.call('reconcile.run', {}));

        out.rows = n(
          await x.s.rows(
            'SELECT statement_id, line, payment_id, ref_payment_id, order_id, kind, amount, currency, at FROM statement_rows ORDER BY id',
          ),
        );
        out.audit = await x.s.rows(
          `SELECT at, actor, subject, detail FROM audit WHERE action = 'reconcile.import_statement' ORDER BY id`,
        );
        expect(out.audit).toHaveLength(6);
        expect(out.audit).toContainEqual({
          at: NOW,
          actor: 'desktop:agent',
          subject: 'statement:1',
          detail: JSON.stringify({ format: 'generic', source: 'bill.csv', rows: 7, duplicates: 1, skipped: 0 }),
        });
        seen.push(out);
      }
      const [sqlite, postgres] = seen as [Record<string, unknown>, Record<string, unknown>];
      for (const key of Object.keys(sqlite)) expect(postgres[key], key).toEqual(sqlite[key]);
    },
  );
});

describe('statements on PostgreSQL', () => {
  it('two servers importing overlapping bills at once store each row once', { timeout: 120_000 }, async () => {
    const s = await startBackendShop('postgres', { clock: () => NOW });
    cleanups.push(() => s.close());
    const first = s.shop as PgShop;
    const second = await PgShop.open({
      url: first.pool.options.connectionString!,
      secretStore: new KeyFileStore(join(s.dataDir, 'vault.key')),
      clock: () => NOW,
    });
    cleanups.push(() => second.close());
    const servers = [first, second];
    const bill = (from: number, n: number) =>
      [HEADER, ...Array.from({ length: n }, (_, i) => `pay-${from + i},ord_${from + i},100,CNY,succeeded,${AT}`)].join('\n');
    const input = (text: string, k: number) => ({
      bytes: Buffer.from(text),
      fileName: `bill-${k}.csv`,
      format: 'generic' as const,
      actor: `server-${k % 2}`,
      nothingNew: 'accept' as const,
    });
    // Six bills of 3000 rows, each overlapping the next by 2000: 8000 rows in all.
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, k) => importStatementPg(servers[k % 2]!, input(bill(k * 1000, 3000), k))),
    );
    expect(results.reduce((sum, r) => sum + r.imported, 0)).toBe(8000);
    expect(results.reduce((sum, r) => sum + r.imported + r.duplicates, 0)).toBe(18_000);
    expect(await s.count('SELECT count(*) FROM statement_rows')).toBe(8000);
    expect(await s.count('SELECT count(*) FROM (SELECT DISTINCT kind, payment_id FROM statement_rows) d')).toBe(8000);
    // Each statement holds the rows it says, and names them in existingIds.
    for (const r of results.filter((x) => x.statement !== null)) {
      expect(await s.count('SELECT count(*) FROM statement_rows WHERE statement_id = ?', r.statement!.id)).toBe(
        r.statement!.rows,
      );
      expect(r.existingIds).toContain(r.statement!.id);
    }
    expect(await s.count(`SELECT count(*) FROM audit WHERE action = 'reconcile.import_statement'`)).toBe(
      results.filter((r) => r.statement !== null).length,
    );

    // The same new bill from both servers at once: one stores it, the other is told nothing is new.
    const same = bill(9000, 500);
    const both = await Promise.allSettled(
      servers.map((server, k) => importStatementPg(server, { ...input(same, k), nothingNew: 'refuse' })),
    );
    expect(both.filter((r) => r.status === 'fulfilled').map((r) => r.value.imported)).toEqual([500]);
    expect(both.filter((r) => r.status === 'rejected').map((r) => (r.reason as Error).message)).toEqual([
      'every one of the 500 row(s) was imported before; nothing new to store',
    ]);
    expect(await s.count('SELECT count(*) FROM statement_rows')).toBe(8500);
  });
});

describe('oncekey reconcile --statement', () => {
  it('stores the bill and prints the same on PostgreSQL as on SQLite', { timeout: 400_000 }, async () => {
    const sqlite = await openShop({ keys: 1 });
    await sqlite.engine.close();
    cleanups.push(() => sqlite.cleanup());
    const pgShop = await startBackendShop('postgres');
    cleanups.push(() => pgShop.close());
    const url = (pgShop.shop as PgShop).pool.options.connectionString!;
    const bill = ['--statement', join(FIXTURES, 'generic.csv'), '--format', 'generic'];
    const runs: Record<string, unknown>[] = [];
    for (const where of [
      ['--data', sqlite.dir],
      ['--database', url],
    ]) {
      const text = await runCli(['reconcile', ...where, ...bill]);
      const json = await runCli(['reconcile', ...where, ...bill, '--json']);
      const again = await runCli(['reconcile', ...where, ...bill]);
      const report = JSON.parse(json.stdout) as ReconcileReport;
      runs.push({ text, json: { ...json, stdout: { ...report, ranAt: '' } }, again });
    }
    const [onSqlite, onPostgres] = runs as [Record<string, unknown>, Record<string, unknown>];
    expect(onSqlite.text).toMatchObject({
      code: 0,
      stderr: expect.stringMatching(/^imported 4 row\(s\) from generic\.csv \(generic\); 0 seen before, 0 skipped; period /),
    });
    expect(onSqlite.json).toMatchObject({ code: 0, stderr: '', stdout: { statementIds: [1] } });
    expect(onSqlite.again).toMatchObject({
      stderr: 'every row of generic.csv was imported before; comparing against it again\n',
    });
    expect(onPostgres).toEqual(onSqlite);
    expect(await pgShop.count('SELECT count(*) FROM statement_rows')).toBe(4);
  });
});
