/**
 * The command line on PostgreSQL: `oncekey stock`, `ledger verify` and `product create|list` with
 * `--database postgres://...` (or ONCEKEY_DATABASE_URL) print what they print on SQLite, run as real
 * processes (`node bin/oncekey.js`) against a real server. `ledger verify` exits 3 on a tampered chain;
 * `import` stores into PostgreSQL, not into a SQLite file (test/pg-import.test.ts has the rest); a
 * missing vault key, an unreachable server and a URL that is not PostgreSQL's fail in one line without
 * showing the password.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { startPgShops, type PgShops } from './helpers/pg-shop';
import { freePort } from './helpers/server-process';
import { tempDir } from './helpers/shop';
import { runCli, type CliResult } from './helpers/cli';

let pgShops: PgShops;
beforeAll(async () => {
  pgShops = await startPgShops();
}, 120_000);
afterAll(async () => pgShops?.stop(), 60_000);

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function folder(): string {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  return dir;
}

const cli = (args: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = 60_000): Promise<CliResult> =>
  runCli(args, { env, timeoutMs });

/**
 * The product ids and creation times replaced, so two shops' outputs compare; runs of spaces made one, as
 * the table's first column is as wide as the longest id (PostgreSQL's product ids are a little longer).
 */
const normalized = (text: string): string =>
  text
    .replace(/prd_[A-Za-z0-9_-]+/g, '<id>')
    .replace(/"createdAt":\d+/g, '"createdAt":0')
    .replace(/ {2,}/g, '  ');

const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').pop()!) as T;

describe('the CLI on PostgreSQL', () => {
  it('creates a product and shows the stock as on SQLite, text and JSON', { timeout: 240_000 }, async () => {
    const url = await pgShops.freshUrl();
    const pgDir = folder();
    const sqliteDir = folder();
    const on = {
      postgres: (args: string[]) => cli([...args, '--data', pgDir, '--database', url]),
      sqlite: (args: string[]) => cli([...args, '--data', sqliteDir]),
    };

    // An empty shop says so, on both.
    const empty = await on.postgres(['stock']);
    expect(empty).toMatchObject({ code: 0, stderr: '' });
    expect(empty.stdout).toBe((await on.sqlite(['stock'])).stdout);
    expect(empty.stdout).toBe(
      'no products yet: create one with `oncekey product create --name ... --price ... --currency ...`\n',
    );

    const created = { postgres: '', sqlite: '' };
    for (const backend of ['postgres', 'sqlite'] as const) {
      const made = await on[backend](['product', 'create', '--name', '点卡 50', '--price', '50.00', '--currency', 'cny']);
      expect(made, backend).toMatchObject({ code: 0, stderr: '' });
      const id = /^created (prd_\S+) 点卡 50\n$/.exec(made.stdout)?.[1];
      expect(id, made.stdout).toBeDefined();
      created[backend] = id!;
      const json = await on[backend](['product', 'create', '--name', 'Off sale', '--price', '9.99', '--off-sale', '--json']);
      expect(json, backend).toMatchObject({ code: 0, stderr: '' });
      expect(lastJson(json.stdout)).toMatchObject({
        product: { name: 'Off sale', price: { amount: 999, currency: 'CNY' }, onSale: false, stock: { available: 0 } },
      });
    }

    // The same codes into both: through the CLI's import on SQLite, through PgShop.addCodes on PostgreSQL.
    const codes = Array.from({ length: 5 }, (_, i) => `CLI-${i}`);
    const file = join(sqliteDir, 'codes.txt');
    writeFileSync(file, `${codes.join('\n')}\n`);
    expect(await on.sqlite(['import', '--product', created.sqlite, file])).toMatchObject({ code: 0 });
    const shop = await PgShop.open({ url, secretStore: new KeyFileStore(join(pgDir, 'vault.key')) });
    try {
      await shop.addCodes(created.postgres, codes);
    } finally {
      await shop.close();
    }

    for (const args of [['stock'], ['stock', '--json'], ['product', 'list']]) {
      const pgOut = await on.postgres(args);
      const sqliteOut = await on.sqlite(args);
      expect(pgOut, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(normalized(pgOut.stdout), args.join(' ')).toBe(normalized(sqliteOut.stdout));
    }
    const [header, ...rows] = (await on.postgres(['stock'])).stdout.trimEnd().split('\n');
    expect(header).toMatch(/^product +name +price +on sale +available +reserved +sold$/);
    expect(rows.find((r) => r.startsWith(created.postgres))).toMatch(/ 点卡 50 +50\.00 CNY +yes +5 +0 +0$/);

    // ONCEKEY_DATABASE_URL stands for --database; a reservation shows in the counters.
    const reserver = await PgShop.open({ url, secretStore: new KeyFileStore(join(pgDir, 'vault.key')) });
    try {
      const { result } = await reserver.reserve({ productId: created.postgres, quantity: 2, email: 'a@example.com' });
      expect(result.ok).toBe(true);
    } finally {
      await reserver.close();
    }
    const fromEnv = await cli(['stock', '--data', pgDir, '--json'], { ONCEKEY_DATABASE_URL: url });
    expect(fromEnv).toMatchObject({ code: 0, stderr: '' });
    const listed = lastJson<{ products: { id: string; stock: unknown }[] }>(fromEnv.stdout).products;
    expect(listed.find((p) => p.id === created.postgres)?.stock).toEqual({ available: 3, reserved: 2, sold: 0 });
  });

  it('verifies the ledger: exit 0 when intact, 3 with the first bad entry when edited', { timeout: 180_000 }, async () => {
    const url = await pgShops.freshUrl();
    const dir = folder();
    const shop = await PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
    try {
      const product = await shop.createProduct({ name: 'Ledger', price: { amount: 100, currency: 'CNY' } });
      await shop.addCodes(product.id, ['L-1', 'L-2', 'L-3']);
      for (const key of ['a', 'b']) {
        const { result } = await shop.reserve({
          productId: product.id,
          quantity: 1,
          email: `${key}@example.com`,
          idempotencyKey: key,
        });
        expect(result.ok).toBe(true);
      }
    } finally {
      await shop.close();
    }
    const verify = (extra: string[] = []) => cli(['ledger', 'verify', '--data', dir, '--database', url, ...extra]);

    const clean = await verify();
    expect(clean).toMatchObject({
      code: 0,
      stderr: '',
      stdout: 'ledger ok: 3 entries, chain intact, every key and order matches its history\n',
    });
    expect(lastJson((await verify(['--json'])).stdout)).toMatchObject({ ok: true, entries: 3, problems: [] });

    // Edit the first reservation's entry behind the shop's back.
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const updated = await client.query(`UPDATE ledger SET detail = '{}' WHERE seq = 2`);
      expect(updated.rowCount).toBe(1);
    } finally {
      await client.end();
    }
    // The report's shape is SQLite's; its wording and the entry it names first come from PostgreSQL's
    // verifier (pg/ledger.ts), which names the earliest entry any problem points at (here the intact
    // import, whose key no longer matches) where SQLite's names the edited entry itself.
    const broken = await verify();
    expect(broken.code).toBe(3);
    expect(broken.stderr).toBe('');
    const lines = broken.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ledger BROKEN: 3 entries; first bad entry: 2$/);
    expect(
      lines.some((line) => /^ {2}#2: its contents do not match its hash \(edited\)/.test(line)),
      lines.join('\n'),
    ).toBe(true);
    for (const line of lines.slice(1)) expect(line).toMatch(/^ {2}(#\d+|-): \S/);
    const json = await verify(['--json']);
    expect(json.code).toBe(3);
    const report = lastJson<{ ok: boolean; entries: number; firstBadEntry: number; problems: { seq: number | null }[] }>(
      json.stdout,
    );
    expect(report).toMatchObject({ ok: false, entries: 3 });
    expect(report.problems.map((p) => p.seq)).toContain(2);
    expect(lines[0]).toBe(`ledger BROKEN: 3 entries; first bad entry: ${report.firstBadEntry}`);
  });

  it('opens the vault with ONCEKEY_PASSPHRASE instead of a key file, on any host', { timeout: 120_000 }, async () => {
    const url = await pgShops.freshUrl();
    const [first, second] = [folder(), folder()];
    const withPassphrase = { ONCEKEY_PASSPHRASE: 'correct horse battery staple' };
    const made = await cli(
      ['product', 'create', '--data', first, '--database', url, '--name', 'P', '--price', '2'],
      withPassphrase,
    );
    expect(made).toMatchObject({ code: 0, stderr: '' });
    const listed = await cli(['stock', '--data', second, '--database', url, '--json'], withPassphrase);
    expect(listed).toMatchObject({ code: 0, stderr: '' });
    expect(lastJson<{ products: unknown[] }>(listed.stdout).products).toHaveLength(1);
    for (const dir of [first, second]) expect(existsSync(join(dir, 'vault.key'))).toBe(false);
    const wrong = await cli(['stock', '--data', second, '--database', url], { ONCEKEY_PASSPHRASE: 'wrong' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^oncekey stock: the vault is locked: .*; check ONCEKEY_PASSPHRASE \(vault_locked\)\n$/);
  });

  it('imports on PostgreSQL, by flag or by environment, and opens no SQLite file', { timeout: 120_000 }, async () => {
    const url = await pgShops.freshUrl();
    const dir = folder();
    const shop = await PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
    let productId: string;
    try {
      productId = (await shop.createProduct({ name: 'Imported', price: { amount: 100, currency: 'CNY' } })).id;
    } finally {
      await shop.close();
    }
    const file = join(dir, 'codes.txt');
    writeFileSync(file, 'I-1\nI-2\n');
    const byFlag = await cli(['import', '--data', dir, '--database', url, '--product', productId, file]);
    expect(byFlag).toMatchObject({ code: 0, stderr: '' });
    expect(byFlag.stdout.split('\n')[0]).toBe(`imported 2 codes into ${productId} from codes.txt (utf-8, txt)`);
    // The same file again by ONCEKEY_DATABASE_URL: both codes are in the vault there, so nothing to import.
    const byEnv = await cli(['import', '--data', dir, '--product', productId, file], { ONCEKEY_DATABASE_URL: url });
    expect(byEnv).toMatchObject({
      code: 1,
      stdout: '',
      stderr:
        'oncekey import: nothing to import from codes.txt: no new codes (2 already in the vault); nothing was stored (import_rejected)\n',
    });
    // No SQLite shop appeared in the folder.
    expect(existsSync(join(dir, 'shop.db'))).toBe(false);
  });

  it(
    'fails in one line, without the password, for a wrong vault key, a server that is down and a URL that is not PostgreSQL',
    { timeout: 180_000 },
    async () => {
      const url = await pgShops.freshUrl();
      const first = folder();
      expect(
        await cli(['product', 'create', '--data', first, '--database', url, '--name', 'Keyed', '--price', '1']),
      ).toMatchObject({
        code: 0,
      });

      // Another host's folder without the shop's key file: refused, and no stray key file left behind.
      const other = folder();
      const locked = await cli(['stock', '--data', other, '--database', url]);
      expect(locked.code).toBe(1);
      expect(locked.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(locked.stderr).toContain('the vault is locked');
      expect(locked.stderr).toContain(`copy vault.key from the host that created this shop into ${other}`);
      expect(existsSync(join(other, 'vault.key'))).toBe(false);

      const password = new URL(url).password;
      const down = new URL(url);
      down.port = String(await freePort());
      const unreachable = await cli(['ledger', 'verify', '--data', first, '--database', down.toString()]);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(unreachable.stderr).toMatch(
        /^oncekey ledger: PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/oncekey_test.*ECONNREFUSED/,
      );
      expect(unreachable.stderr).not.toContain(password);

      const notPostgres = await cli(['stock', '--data', first, '--database', 'mysql://localhost/shop']);
      expect(notPostgres).toMatchObject({
        code: 2,
        stderr: 'oncekey stock: --database takes a PostgreSQL URL: postgres://user:password@host:5432/database\n',
      });
    },
  );
});
