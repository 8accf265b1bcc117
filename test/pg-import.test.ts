/**
 * `oncekey import --database postgres://...` against a real PostgreSQL (never a mock): the same files
 * give the same report as on SQLite (a GBK CSV with a column chosen by name, a text file with blank,
 * repeated, over-long and unreadable lines, codes already in the vault), as JSON and as text; the stock
 * and the ledger follow and verify; the imported codes are sold through the PostgreSQL shop. A rejected,
 * failed or cancelled import (Ctrl-C on the real command too, or the command killed) and a preview store
 * nothing: no key, no import row, no ledger entry.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src-main/cli/main';
import { isEngineError } from '../src-main/lib/errors';
import { PgShop } from '../src-main/pg/shop';
import type { ImportReport } from '../src-main/vault/import';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { ROOT } from './helpers/http';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { tempDir } from './helpers/shop';

let pgShops: PgShops;
const saved = { url: process.env.ONCEKEY_DATABASE_URL, passphrase: process.env.ONCEKEY_PASSPHRASE };
beforeAll(async () => {
  // The SQLite runs must not be sent to PostgreSQL by the environment, nor the vault opened by a passphrase.
  delete process.env.ONCEKEY_DATABASE_URL;
  delete process.env.ONCEKEY_PASSPHRASE;
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => {
  if (saved.url !== undefined) process.env.ONCEKEY_DATABASE_URL = saved.url;
  if (saved.passphrase !== undefined) process.env.ONCEKEY_PASSPHRASE = saved.passphrase;
  await pgShops?.stop();
}, 60_000);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function folder(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** The CLI in this process (`main`, as bin/oncekey.js runs it), its output collected. */
async function run(argv: readonly string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** A SQLite shop and a PostgreSQL shop, each with one product, run through the same commands. */
async function twoShops() {
  const url = await pgShops.freshUrl();
  const dirs = { sqlite: folder(), postgres: folder() };
  const flags = { sqlite: ['--data', dirs.sqlite], postgres: ['--data', dirs.postgres, '--database', url] };
  const ids = { sqlite: '', postgres: '' };
  for (const backend of ['sqlite', 'postgres'] as const) {
    const made = await run(['product', 'create', ...flags[backend], '--name', '点卡 50', '--price', '50', '--json']);
    expect(made, backend).toMatchObject({ code: 0, err: '' });
    ids[backend] = (JSON.parse(made.out) as { product: { id: string } }).product.id;
  }
  /** Runs one command on both; each answer with its product id replaced by `<id>`, to compare. */
  const both = async (args: readonly string[]) => {
    const answers = { sqlite: undefined as Run | undefined, postgres: undefined as Run | undefined };
    for (const backend of ['sqlite', 'postgres'] as const) {
      const answer = await run([...args, ...flags[backend]].map((a) => (a === '<id>' ? ids[backend] : a)));
      const id = new RegExp(ids[backend], 'g');
      answers[backend] = { code: answer.code, out: answer.out.replace(id, '<id>'), err: answer.err.replace(id, '<id>') };
    }
    return answers as { sqlite: Run; postgres: Run };
  };
  return { url, dirs, ids, both };
}

/** Counts of what an import writes, on PostgreSQL. */
async function written(url: string, productId: string) {
  const schema = new URL(url).searchParams.get('options')!.replace('-c search_path=', '');
  const row = await pgShops.admin<{ keys: number; imports: number; ledger: number; available: number }>(
    `SELECT (SELECT count(*)::int FROM ${schema}.keys) AS keys, (SELECT count(*)::int FROM ${schema}.imports) AS imports,
            (SELECT count(*)::int FROM ${schema}.ledger) AS ledger,
            (SELECT available::int FROM ${schema}.products WHERE id = $1) AS available`,
    [productId],
  );
  return row.rows[0]!;
}

const OVER_LONG = 'X'.repeat(1001);

/** A text file with a header, blank lines, repeats, an over-long line and one with a control character. */
const TEXT =
  ['卡密', 'A-1', 'A-2', '', 'A-1', '  ', 'A-3', OVER_LONG, 'A-2', 'A-\u00014', 'A-5', '', 'A-6'].join('\r\n') + '\r\n';

/** A GBK CSV: the codes in the second column, picked by its name; two codes repeat, one is A-3 of the text file. */
function gbkCsv(): Buffer {
  const rows = ['序号,激活码,备注', ...Array.from({ length: 30 }, (_, i) => `${i},码-${i % 28}-甲乙,第${i}张`), '99,A-3,旧'];
  return iconv.encode(`${rows.join('\r\n')}\r\n`, 'gbk');
}

describe('oncekey import on PostgreSQL', () => {
  it(
    'gives the same report as SQLite, stores the codes with their stock and ledger, and sells them',
    { timeout: 120_000 },
    async () => {
      const { url, dirs, ids, both } = await twoShops();
      const files = { text: join(dirs.sqlite, 'codes.txt'), csv: join(dirs.sqlite, 'cards.csv') };
      writeFileSync(files.text, TEXT);
      writeFileSync(files.csv, gbkCsv());

      // A preview first, in words: the same lines, and nothing stored on either.
      const preview = await both(['import', '--product', '<id>', files.text, '--dry-run']);
      expect(preview.postgres).toEqual(preview.sqlite);
      expect(preview.postgres.out.split('\n')).toEqual([
        'preview: 5 new codes would be imported into <id> from codes.txt (utf-8, txt, column 1 "卡密"); nothing was stored',
        '  lines read:             13',
        '  repeated in the file:   2 (lines 5, 9)',
        '  already in the vault:   0',
        '  blank lines:            3 (lines 4, 6, 12)',
        '  over-long lines:        1 (line 8)',
        '  unreadable lines:       1 (line 10)',
      ]);
      expect(await written(url, ids.postgres)).toEqual({ keys: 0, imports: 0, ledger: 0, available: 0 });

      // The text file, then the GBK CSV (one of its codes now in the vault), as JSON: byte for byte alike.
      const text = await both(['import', '--product', '<id>', files.text, '--json']);
      expect(text.postgres).toEqual(text.sqlite);
      expect(JSON.parse(text.postgres.out)).toMatchObject({
        imported: 5,
        lines: 13,
        duplicatesInBatch: 2,
        blank: 3,
        overLong: 1,
        invalid: 1,
        encoding: 'utf-8',
        bom: false,
        format: 'txt',
      });
      const csv = await both(['import', '--product', '<id>', files.csv, '--column', '激活码', '--json']);
      expect(csv.postgres).toEqual(csv.sqlite);
      const report = JSON.parse(csv.postgres.out) as ImportReport;
      expect(report).toMatchObject({
        encoding: 'gbk',
        format: 'csv',
        column: { index: 2, name: '激活码' },
        lines: 32,
        imported: 28,
        duplicatesInBatch: 2,
        duplicatesInVault: 1,
        samples: { duplicatesInBatch: [30, 31], duplicatesInVault: [32] },
      });

      // Again: everything is in the vault now, refused alike, and nothing more stored.
      const again = await both(['import', '--product', '<id>', files.csv, '--column', '激活码']);
      expect(again.postgres).toEqual(again.sqlite);
      expect(again.postgres).toMatchObject({ code: 1, out: '' });
      expect(again.postgres.err).toMatch(
        /^oncekey import: nothing to import from cards\.csv: no new codes \(31 already in the vault/,
      );
      expect(await written(url, ids.postgres)).toEqual({ keys: 33, imports: 2, ledger: 2, available: 33 });

      // The stock and the ledger, through the commands that read them.
      const stock = await both(['stock', '--json']);
      expect(stock.postgres).toEqual(stock.sqlite);
      expect(stock.postgres.out).toContain('"available":33');
      const verify = await run(['ledger', 'verify', '--data', dirs.postgres, '--database', url]);
      expect(verify).toMatchObject({ code: 0, err: '' });
      expect(verify.out).toMatch(/^ledger ok: 2 entries/);

      // A buyer gets one of the imported codes through the PostgreSQL shop.
      const shop = await PgShop.open({ url, secretStore: new KeyFileStore(join(dirs.postgres, 'vault.key')) });
      try {
        const { result } = await shop.reserve({ productId: ids.postgres, quantity: 1, email: 'buyer@example.com' });
        if (!result.ok) throw new Error(`reserve failed: ${result.error.code}`);
        const order = result.value;
        const paid = await shop.pay({
          orderId: order.id,
          amount: 5000,
          currency: 'CNY',
          eventId: 'evt_import',
          source: 'webhook',
        });
        expect(paid.order?.status).toBe('delivered');
        const [code] = await shop.deliveredCodes(order.id);
        const imported = [...['A-1', 'A-2', 'A-3', 'A-5', 'A-6'], ...Array.from({ length: 28 }, (_, i) => `码-${i}-甲乙`)];
        expect(imported).toContain(code);
        expect((await shop.verifyLedger()).ok).toBe(true);
      } finally {
        await shop.close();
      }
    },
  );

  it(
    'stores nothing for an unknown product, a bad encoding, a file that fails midway, or a preview',
    { timeout: 120_000 },
    async () => {
      const { url, dirs, ids } = await twoShops();
      const on = (args: readonly string[]) => run(['import', '--data', dirs.postgres, '--database', url, ...args]);
      // 20,000 codes (staged in several chunks), then a GBK line that forced UTF-8 cannot read.
      const late = join(dirs.postgres, 'late.txt');
      const many = Array.from({ length: 20_000 }, (_, i) => `LATE-${i}`);
      writeFileSync(late, Buffer.concat([Buffer.from(`${many.join('\n')}\n`), iconv.encode('测试-1\n', 'gbk')]));

      expect(await on(['--product', 'prd_nope', late])).toEqual({
        code: 1,
        out: '',
        err: 'oncekey import: no product prd_nope (product_not_found)',
      });
      expect(await on(['--product', ids.postgres, '--encoding', 'latin1', late])).toMatchObject({
        code: 2,
        err: 'oncekey import: --encoding must be utf-8 or gbk',
      });
      expect(await on(['--product', ids.postgres, '--encoding', 'utf-8', late])).toMatchObject({
        code: 1,
        err: 'oncekey import: line 20001 is not valid UTF-8: if the file is GBK, pass the encoding gbk (import_rejected)',
      });
      const preview = await on(['--product', ids.postgres, '--dry-run', '--json', join(dirs.postgres, 'none.txt')]);
      expect(preview.code).toBe(1); // no such file
      writeFileSync(late, `${many.join('\n')}\n`);
      const dry = await on(['--product', ids.postgres, '--dry-run', '--json', late]);
      expect(dry).toMatchObject({ code: 0, err: '' });
      expect(JSON.parse(dry.out)).toMatchObject({ dryRun: true, importId: null, accepted: 20_000, imported: 0 });
      expect(await written(url, ids.postgres)).toEqual({ keys: 0, imports: 0, ledger: 0, available: 0 });
      // The same file then imports whole.
      const stored = await on(['--product', ids.postgres, '--json', late]);
      expect(stored).toMatchObject({ code: 0, err: '' });
      expect(JSON.parse(stored.out)).toMatchObject({ imported: 20_000 });
      expect(await written(url, ids.postgres)).toEqual({ keys: 20_000, imports: 1, ledger: 1, available: 20_000 });
    },
  );

  it(
    'rolls back a cancelled import and one whose source fails, and keeps its connection for the next',
    { timeout: 120_000 },
    async () => {
      const url = await pgShops.freshUrl();
      const dir = folder();
      const shop = await PgShop.open({ url, poolSize: 1, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
      try {
        const product = await shop.createProduct({ name: 'Cancel', price: { amount: 100, currency: 'CNY' } });
        const controller = new AbortController();
        // Chunks of 10,000 codes; the reader cancels (or fails) once two have been handed over.
        async function* codes(fail: boolean): AsyncGenerator<Uint8Array> {
          for (let chunk = 0; ; chunk++) {
            if (chunk === 2 && fail) throw new Error('the disk went away');
            if (chunk === 2) controller.abort(new Error('cancelled'));
            yield Buffer.from(Array.from({ length: 10_000 }, (_, i) => `C-${chunk}-${i}\n`).join(''));
            if (chunk > 3) return;
          }
        }
        const stream = (fail: boolean) => ({ kind: 'stream' as const, stream: codes(fail), name: 'codes.txt' });
        const cancelled = await shop
          .importCodes(product.id, stream(false), { signal: controller.signal, chunkSize: 4096 })
          .catch((error: unknown) => error);
        expect(cancelled).toMatchObject({ message: 'cancelled' });
        const failed = await shop.importCodes(product.id, stream(true), { chunkSize: 4096 }).catch((error: unknown) => error);
        expect((failed as Error).message).toContain('the disk went away');
        expect(isEngineError(failed)).toBe(false);
        // A NUL in the product id (PostgreSQL's text cannot hold one) is just no such product.
        await expect(shop.importCodes('prd_\0', { kind: 'text', text: 'NUL-1' })).rejects.toMatchObject({
          code: 'product_not_found',
        });
        expect(await written(url, product.id)).toEqual({ keys: 0, imports: 0, ledger: 0, available: 0 });
        // One connection in the pool: had a failed import kept it, this would wait forever.
        expect(await shop.addCodes(product.id, ['NEXT-1', 'NEXT-2'])).toEqual({ added: 2, duplicates: 0 });
        expect(await written(url, product.id)).toEqual({ keys: 2, imports: 1, ledger: 1, available: 2 });
        expect((await shop.verifyLedger()).ok).toBe(true);
      } finally {
        await shop.close();
      }
    },
  );

  it(
    'answers busy and stores nothing when the connection is cut mid-import; the next import works',
    { timeout: 120_000 },
    async () => {
      const url = await pgShops.freshUrl();
      const dir = folder();
      const shop = await PgShop.open({ url, poolSize: 1, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
      try {
        const product = await shop.createProduct({ name: 'Cut', price: { amount: 100, currency: 'CNY' } });
        async function* codes(): AsyncGenerator<Uint8Array> {
          for (let chunk = 0; chunk < 4; chunk++) {
            if (chunk === 2) {
              // What a restart or a network cut does to the import's connection, mid-transaction.
              const cut = await pgShops.admin<{ cut: boolean }>(
                `SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()`,
              );
              expect(cut.rows.map((r) => r.cut)).toEqual([true]);
            }
            yield Buffer.from(Array.from({ length: 10_000 }, (_, i) => `CUT-${chunk}-${i}\n`).join(''));
          }
        }
        const failed = await shop
          .importCodes(product.id, { kind: 'stream', stream: codes(), name: 'cut.txt' }, { chunkSize: 4096 })
          .catch((error: unknown) => error);
        expect(isEngineError(failed) && failed.code).toBe('busy');
        expect((failed as Error).message).toBe(
          'the database connection was lost during the import, nothing was stored; run it again',
        );
        expect(await written(url, product.id)).toEqual({ keys: 0, imports: 0, ledger: 0, available: 0 });
        expect(await shop.addCodes(product.id, ['AFTER-1'])).toEqual({ added: 1, duplicates: 0 });
      } finally {
        await shop.close();
      }
    },
  );

  it(
    'two servers importing overlapping files at once store each code once, and count the rest as in the vault',
    { timeout: 120_000 },
    async () => {
      const url = await pgShops.freshUrl();
      const dir = folder();
      const open = () => PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
      const first = await open();
      const second = await open();
      try {
        const product = await first.createProduct({ name: 'Race', price: { amount: 100, currency: 'CNY' } });
        const text = (from: number) => Array.from({ length: 10_000 }, (_, i) => `R-${from + i}`).join('\n');
        const [a, b] = await Promise.all([
          first.importCodes(product.id, { kind: 'text', text: text(0) }),
          second.importCodes(product.id, { kind: 'text', text: text(5000) }),
        ]);
        // Whoever committed second found the 5,000 shared codes in the vault, wherever its transaction was.
        expect(a.imported + b.imported).toBe(15_000);
        expect(a.duplicatesInVault + b.duplicatesInVault).toBe(5000);
        expect(a.duplicatesInBatch + b.duplicatesInBatch).toBe(0);
        expect(await written(url, product.id)).toEqual({ keys: 15_000, imports: 2, ledger: 2, available: 15_000 });
        expect((await first.verifyLedger()).ok).toBe(true);
      } finally {
        await first.close();
        await second.close();
      }
    },
  );

  it.each(['SIGINT', 'SIGKILL'] as const)(
    '%s to the real command mid-import rolls it back: nothing stored',
    { timeout: 120_000 },
    async (signal) => {
      const { url, dirs, ids } = await twoShops();
      const env = { ...process.env };
      delete env.ONCEKEY_DATABASE_URL;
      const child = spawn(
        process.execPath,
        ['bin/oncekey.js', 'import', '--data', dirs.postgres, '--database', url, '--product', ids.postgres, '-'],
        { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stdin.on('error', () => undefined); // a killed reader: EPIPE
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      // Codes keep coming on stdin until the command exits, so the import cannot reach its commit (an
      // interrupt during the commit comes too late: it stores everything). It reports progress off a
      // terminal after 5 s, by which time chunks are staged in its transaction.
      let next = 0;
      const feed = setInterval(() => {
        if (child.stdin.writable) child.stdin.write(Array.from({ length: 2000 }, () => `SIG-${next++}\n`).join(''));
      }, 100);
      void exited.finally(() => clearInterval(feed));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no progress line: ${stderr}`)), 60_000);
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
          if (stderr.includes('importing: ')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      // The import's transaction is open on the server, with its staged rows, when the interrupt comes.
      const open = await pgShops.admin<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()`,
      );
      expect(open.rows[0]!.n).toBeGreaterThanOrEqual(1);
      child.kill(signal);
      const code = await exited;
      expect(stdout).toBe('');
      if (signal === 'SIGINT') {
        // Ctrl-C: the command rolls back itself and says so.
        expect(code).toBe(130);
        expect(stderr).toMatch(/oncekey import: cancelled; nothing was stored\n$/);
      } else {
        // A process that dies: the server ends its transaction when the connection drops.
        expect(code).toBe(null);
        for (let tries = 0; ; tries++) {
          const left = await pgShops.admin<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()`,
          );
          if (left.rows[0]!.n === 0) break;
          if (tries > 100) throw new Error("the killed import's transaction is still open");
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      expect(next).toBeGreaterThan(10_000);
      expect(await written(url, ids.postgres)).toEqual({ keys: 0, imports: 0, ledger: 0, available: 0 });
    },
  );
});
