/**
 * `oncekey reconcile`: prints {"findings":[{"kind", ...}]} and exits 0 whatever it found; compares
 * against a statement given with --statement (re-running with the same bill compares again); usage
 * mistakes exit 2 and other errors 1, each with one line.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReconcileReport } from '../shared/reconcile';
import { main } from '../src-main/cli/main';
import { ROOT } from './helpers/http';
import { openShop } from './helpers/shop';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'statements');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function brokenShop(): Promise<string> {
  const shop = await openShop({ keys: 2 });
  const { engine, productId, dir } = shop;
  const { result } = await engine.reserve({ productId, quantity: 1, email: 'a@example.com' });
  if (!result.ok) throw new Error('sold out');
  await engine.pay({ orderId: result.value.id, amount: 5000, currency: 'CNY', eventId: 'evt_1', source: 'webhook' });
  engine.db.prepare('UPDATE products SET sold = sold + 2 WHERE id = ?').run(productId);
  await engine.close();
  cleanups.push(() => void shop.cleanup().catch(() => undefined));
  return dir;
}

async function run(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('oncekey reconcile', () => {
  it('prints the findings as JSON and exits 0 although it found some', async () => {
    const dir = await brokenShop();
    const { code, out } = await run(['reconcile', '--data', dir, '--json']);
    expect(code).toBe(0);
    expect(out).toHaveLength(1);
    const report = JSON.parse(out[0]!) as ReconcileReport;
    expect(report.findings.map((f) => f.kind)).toEqual(['stock_drift']);
    expect(report.findings[0]).toMatchObject({ kind: 'stock_drift', status: 'open', expected: { sold: 1 }, actual: { sold: 3 } });
  });

  it('compares against a statement, and again when the same bill is given twice', async () => {
    const dir = await brokenShop();
    const args = ['reconcile', '--data', dir, '--statement', join(FIXTURES, 'generic.csv'), '--format', 'generic', '--json'];
    for (let i = 0; i < 2; i++) {
      const { code, out } = await run(args);
      expect(code).toBe(0);
      const report = JSON.parse(out[0]!) as ReconcileReport;
      expect(report.statementIds).toEqual([1]);
      expect(
        report.findings
          .filter((f) => f.kind === 'statement_payment_unknown_order')
          .map((f) => f.subject)
          .sort(),
      ).toEqual(['pay_0001', 'pay_0002', 'pay_0003', 'refund:pay_0001']);
    }
  });

  it('prints a table for people; says so when everything agrees', async () => {
    const dir = await brokenShop();
    const broken = await run(['reconcile', '--data', dir]);
    expect(broken.code).toBe(0);
    expect(broken.out.join('\n')).toMatch(/stock_drift\s+1\s+0/);
    const clean = await openShop({ keys: 1 });
    await clean.engine.close();
    cleanups.push(() => void clean.cleanup().catch(() => undefined));
    expect(await run(['reconcile', '--data', clean.dir])).toMatchObject({
      code: 0,
      out: ['no disagreements: orders, keys, payments and the ledger agree'],
    });
  });

  it('exits 2 for usage mistakes and 1 for a statement it cannot read, with one line each', async () => {
    const dir = await brokenShop();
    const badFormat = await run(['reconcile', '--data', dir, '--statement', 'x.csv', '--format', 'excel']);
    expect(badFormat).toMatchObject({
      code: 2,
      err: [expect.stringMatching(/^oncekey reconcile: --format must be one of wechat, alipay/)],
    });
    expect((await run(['reconcile', '--data', dir, '--format', 'generic'])).code).toBe(2);
    const missing = await run(['reconcile', '--data', dir, '--statement', join(dir, 'nope.csv')]);
    expect(missing).toMatchObject({ code: 1, err: [expect.stringMatching(/cannot read .*nope\.csv: ENOENT/)] });
    const wrong = await run(['reconcile', '--data', dir, '--statement', join(FIXTURES, 'generic.csv'), '--format', 'wechat']);
    expect(wrong).toMatchObject({ code: 1, err: [expect.stringMatching(/not a WeChat Pay trade bill file/)] });
  });

  it('says which period it compared and how it was set; takes --time-zone, --from and --to', async () => {
    const dir = await brokenShop();
    const args = ['reconcile', '--data', dir, '--statement', join(FIXTURES, 'generic.csv'), '--format', 'generic'];
    const shown = await run([...args, '--time-zone', 'America/New_York']);
    expect(shown.code).toBe(0);
    expect(shown.err.join('\n')).toContain(
      'period 2026-11-23T05:00:00.000Z .. 2026-11-25T04:59:59.999Z (the whole days of its rows, America/New_York)',
    );
    const bad = await run([...args, '--time-zone', 'Mars/Olympus']);
    expect(bad).toMatchObject({ code: 2, err: [expect.stringMatching(/Mars\/Olympus is not a time zone/)] });
    expect((await run(['reconcile', '--data', dir, '--from', '2026-11-24'])).code).toBe(2);
    const wrong = await run([...args, '--from', '2026-11-25', '--to', '2026-11-24']);
    expect(wrong).toMatchObject({ code: 1, err: [expect.stringMatching(/ends before it starts/)] });
  });

  it('runs as a real process: JSON on stdout, exit 0', async () => {
    const dir = await brokenShop();
    const child = spawnSync(process.execPath, [join(ROOT, 'bin', 'oncekey.js'), 'reconcile', '--data', dir, '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(child.status).toBe(0);
    expect((JSON.parse(child.stdout) as ReconcileReport).findings[0]!.kind).toBe('stock_drift');
  });
});
