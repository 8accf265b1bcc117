/**
 * The keys.* methods and products.stock through the real dispatcher against a real shop, on both
 * backends (the SQLite file and a real PostgreSQL): preview and import from text, a base64 upload and a
 * path; the masked key table (never a whole code); the audited reveal, whose audit row commits with the
 * read or the code is not shown; a code's history; the stock counted from the key rows. Database reads
 * go through the shop's own tables (s.rows, s.count) with the same SQL on both.
 *
 * SQLite-only: an import still staging in SQLite's TEMP staging table (PostgreSQL stages inside the
 * import's own transaction, invisible to any other connection: pg-import.test.ts). The mask itself is a
 * pure function, tested once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { maskCode } from '../src-main/vault/key-access';
import { rpcClient } from './helpers/rpc';
import { BACKEND_NAMES, startBackendShop, stopBackendServers, type BackendName, type BackendShop } from './helpers/backend-shop';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});
afterAll(() => stopBackendServers(), 60_000);

/** A shop on `backend` with a product of its own, empty (the helper's product holds one other code). */
async function setup(backend: BackendName) {
  const s = await startBackendShop(backend);
  cleanups.push(() => s.close());
  const { id: productId } = await s.shop.createProduct({ name: 'Gift 100', price: { amount: 10000, currency: 'CNY' } });
  const { call, fails } = rpcClient(s.rpcContext('desktop:alice'));
  const available = async (): Promise<number | undefined> => (await s.shop.getProduct(productId))?.stock.available;
  return { s, productId, call, fails, available };
}

const CODES = ['GIFT-AAAA-1111', 'GIFT-BBBB-2222', 'GIFT-CCCC-3333'];

describe.each(BACKEND_NAMES)('keys.preview and keys.import (%s)', (backend) => {
  it('previews pasted text without storing, then imports it', async () => {
    const { productId, call, available } = await setup(backend);
    const text = [...CODES, '', CODES[0]].join('\n');
    const preview = await call('keys.preview', { productId, source: { kind: 'text', text } });
    expect(preview).toMatchObject({
      dryRun: true,
      accepted: 3,
      imported: 0,
      blank: 1,
      duplicatesInBatch: 1,
      samples: { duplicatesInBatch: [5] },
    });
    expect(await available()).toBe(0);
    const done = await call('keys.import', { productId, source: { kind: 'text', text } });
    expect(done).toMatchObject({ dryRun: false, imported: 3 });
    expect(await available()).toBe(3);
  });

  it('imports a browser upload (base64 GBK CSV) and a desktop path', async () => {
    const { s, productId, call } = await setup(backend);
    const csv = iconv.encode('备注,激活码\n第一张,UP-1\n第二张,UP-2\n', 'gbk');
    const upload = await call('keys.import', {
      productId,
      source: { kind: 'bytes', name: 'codes.csv', base64: csv.toString('base64') },
    });
    expect(upload).toMatchObject({ imported: 2, encoding: 'gbk', format: 'csv', column: { index: 2, name: '激活码' } });
    const file = join(s.dataDir, 'more.txt');
    writeFileSync(file, 'PATH-1\nUP-1\n');
    const fromPath = await call('keys.import', { productId, source: { kind: 'path', path: file } });
    expect(fromPath).toMatchObject({
      imported: 1,
      duplicatesInVault: 1,
      samples: { duplicatesInVault: [2] },
      source: 'more.txt',
    });
  });

  it('refuses bad input and bad imports with stable codes', async () => {
    const { productId, fails, call } = await setup(backend);
    expect(
      (await fails('keys.import', { productId, source: { kind: 'bytes', name: 'x.txt', base64: '!!not base64!!' } })).code,
    ).toBe('validation_failed');
    expect((await fails('keys.import', { productId, source: { kind: 'text', text: 'A' }, encoding: 'latin1' })).code).toBe(
      'validation_failed',
    );
    expect((await fails('keys.import', { productId: 'prd_nope', source: { kind: 'text', text: 'A' } })).code).toBe(
      'product_not_found',
    );
    const binary = Buffer.from([0x00, 0x01, 0x02, 0x03, 0x41]).toString('base64');
    const refused = await fails('keys.import', { productId, source: { kind: 'bytes', name: 'x.bin', base64: binary } });
    expect(refused).toEqual({
      code: 'import_rejected',
      message: 'this is a binary file, not text: export the codes as .txt or .csv',
    });
    await call('keys.import', { productId, source: { kind: 'text', text: 'ONLY-1' } });
    expect((await fails('keys.import', { productId, source: { kind: 'text', text: 'ONLY-1' } })).code).toBe('import_rejected');
  });
});

describe('the mask', () => {
  it('never shows more than half of a short code', () => {
    expect(maskCode('AB12')).toBe('••••••••12');
    expect(maskCode('X')).toBe('••••••••');
    expect(maskCode('卡密-ABCDEFGH')).toBe('••••••••EFGH');
  });
});

describe.each(BACKEND_NAMES)('keys.list, keys.reveal, keys.audit and products.stock (%s)', (backend) => {
  it('lists keys newest first, masked to their last four characters, with paging and filters', async () => {
    const { s, productId, call } = await setup(backend);
    await call('keys.import', { productId, source: { kind: 'text', text: CODES.join('\n') } });
    const { result } = await s.shop.reserve({ productId, quantity: 1, email: 'b@example.com' });
    expect(result.ok).toBe(true);
    // One import stores its codes in fingerprint order: newest first is by key id, whichever code that is.
    const all = await call('keys.list', { productId, offset: 0, limit: 3 });
    expect(all.rows.map((r) => r.masked).sort()).toEqual(['••••••••1111', '••••••••2222', '••••••••3333']);
    expect(all.rows.map((r) => r.id)).toEqual([...all.rows.map((r) => r.id)].sort((a, b) => b - a));
    // The oldest key was the one sold first.
    expect(all.rows.map((r) => r.status)).toEqual(['available', 'available', 'reserved']);
    const page = await call('keys.list', { productId, offset: 0, limit: 2 });
    expect(page.total).toBe(3);
    expect(page.rows.map((r) => r.masked)).toEqual(all.rows.slice(0, 2).map((r) => r.masked));
    expect(page.rows[0]).toMatchObject({ productId, status: 'available', orderId: null });
    expect(page.rows[0]!.importedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const rest = await call('keys.list', { productId, offset: 2, limit: 2 });
    expect(rest).toEqual({ total: 3, rows: [all.rows[2]] });
    // A page past the end still has the total.
    expect(await call('keys.list', { productId, offset: 9, limit: 2 })).toEqual({ total: 3, rows: [] });
    const reserved = await call('keys.list', { status: 'reserved' });
    expect(reserved.total).toBe(1);
    expect(reserved.rows[0]!.orderId).toMatch(/^ord_/);
    expect(await call('keys.list', { productId: 'prd_nope', offset: 0, limit: 5 })).toEqual({ total: 0, rows: [] });
    // No whole code anywhere in what the table receives (the helper's product's code included).
    const everything = await call('keys.list', { offset: 0, limit: 500 });
    expect(everything.total).toBe(4);
    for (const code of [...CODES, 'CODE-000000']) expect(JSON.stringify(everything)).not.toContain(code);
  });

  it('reveals or copies one code and writes the audit row in the same transaction', async () => {
    const { s, productId, call, fails } = await setup(backend);
    await call('keys.import', { productId, source: { kind: 'text', text: CODES.join('\n') } });
    const { rows } = await call('keys.list', { productId, offset: 0, limit: 10 });
    const key = rows.find((r) => r.masked.endsWith('2222'))!;
    expect(await call('keys.audit', { keyId: key.id })).toEqual({ rows: [] });
    expect(await call('keys.reveal', { keyId: key.id, purpose: 'reveal' })).toEqual({ code: 'GIFT-BBBB-2222' });
    expect(await call('keys.reveal', { keyId: key.id, purpose: 'copy' })).toEqual({ code: 'GIFT-BBBB-2222' });
    const audit = await call('keys.audit', { keyId: key.id });
    expect(audit.rows.map((r) => [r.action, r.actor])).toEqual([
      ['key.reveal', 'desktop:alice'],
      ['key.copy', 'desktop:alice'],
    ]);
    expect(audit.rows[0]!.detail).toEqual({ productId, status: 'available' });
    expect(audit.rows[0]!.at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(JSON.stringify(audit)).not.toContain('GIFT-BBBB-2222');
    const stored = await s.rows<{ subject: string; detail: string }>(
      `SELECT subject, detail FROM audit WHERE action LIKE 'key.%' ORDER BY id`,
    );
    expect(stored).toEqual([
      { subject: `key:${key.id}`, detail: JSON.stringify({ productId, status: 'available' }) },
      { subject: `key:${key.id}`, detail: JSON.stringify({ productId, status: 'available' }) },
    ]);
    // A reveal that cannot commit its audit row shows nothing.
    await refuseAudits(s, true);
    expect((await fails('keys.reveal', { keyId: key.id, purpose: 'reveal' })).code).toBe('internal_error');
    await refuseAudits(s, false);
    expect((await call('keys.audit', { keyId: key.id })).rows).toHaveLength(2);
    expect(await s.count(`SELECT count(*) FROM audit WHERE subject = ?`, `key:${key.id}`)).toBe(2);
    expect((await fails('keys.reveal', { keyId: 999_999, purpose: 'reveal' })).code).toBe('not_found');
    expect((await fails('keys.reveal', { keyId: key.id, purpose: 'print' })).code).toBe('validation_failed');
  });

  it('does not list or reveal a key row left `staged` (by an older OnceKey)', async () => {
    const { s, productId, call, fails } = await setup(backend);
    const [made] = await s.rows<{ id: number }>(
      `INSERT INTO imports (product_id, state, source, created_at, updated_at) VALUES (?, 'staging', 'x', 1, 1) RETURNING id`,
      productId,
    );
    const [legacy] = await s.rows<{ id: number }>(
      `INSERT INTO keys (product_no, import_id, fingerprint, sealed, status, updated_at)
       VALUES ((SELECT no FROM products WHERE id = ?), ?, ?, ?, 'staged', 1) RETURNING id`,
      productId,
      made!.id,
      Buffer.from([1]),
      Buffer.alloc(0),
    );
    expect(await call('keys.list', { productId, offset: 0, limit: 10 })).toEqual({ total: 0, rows: [] });
    expect((await call('keys.list', { offset: 0, limit: 10 })).rows.map((r) => r.id)).not.toContain(Number(legacy!.id));
    expect((await fails('keys.reveal', { keyId: Number(legacy!.id), purpose: 'reveal' })).code).toBe('not_found');
    expect(await call('products.stock', { id: productId })).toEqual({ available: 0, reserved: 0, sold: 0 });
  });

  it('products.stock counts the key rows by status', async () => {
    const { s, productId, call, fails } = await setup(backend);
    expect(await call('products.stock', { id: productId })).toEqual({ available: 0, reserved: 0, sold: 0 });
    await call('keys.import', { productId, source: { kind: 'text', text: CODES.join('\n') } });
    const held = await s.shop.reserve({ productId, quantity: 1, email: 'b@example.com' });
    const sold = await s.shop.reserve({ productId, quantity: 1, email: 'c@example.com' });
    if (!held.result.ok || !sold.result.ok) throw new Error('the reservations should have succeeded');
    const order = sold.result.value;
    const paid = await s.shop.pay({ orderId: order.id, amount: 10000, currency: 'CNY', eventId: 'ev-1', source: 'webhook' });
    expect(paid.effect).toBe('delivered');
    const stock = await call('products.stock', { id: productId });
    expect(stock).toEqual({ available: 1, reserved: 1, sold: 1 });
    // The stored counters agree with the rows.
    expect((await s.shop.getProduct(productId))?.stock).toEqual(stock);
    expect(await call('products.stock', { id: s.productId })).toEqual({ available: 1, reserved: 0, sold: 0 });
    expect((await fails('products.stock', { id: 'prd_nope' })).code).toBe('product_not_found');
    expect((await fails('products.stock', { id: 'prd_\0' })).code).toBe('product_not_found');
  });
});

/** Makes every audit insert fail (`on`), or stops that: a TEMP trigger on SQLite, a trigger in the shop's schema on PostgreSQL. */
async function refuseAudits(s: BackendShop, on: boolean): Promise<void> {
  if (s.engine) {
    s.engine.db.exec(
      on
        ? `CREATE TEMP TRIGGER no_audit BEFORE INSERT ON main.audit BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`
        : 'DROP TRIGGER temp.no_audit',
    );
  } else if (on) {
    await s.rows(
      `CREATE FUNCTION no_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit disk full'; END $$`,
    );
    await s.rows('CREATE TRIGGER no_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION no_audit()');
  } else {
    await s.rows('DROP TRIGGER no_audit ON audit');
  }
}

describe('an import still staging (SQLite only: its TEMP staging table)', () => {
  it('does not list keys of an import still staging', async () => {
    const { s, productId, call } = await setup('sqlite');
    const engine = s.engine!;
    const { beginImport } = await import('../src-main/engine/stock-import');
    const { stageChunk } = await import('../src-main/vault/import-store');
    const { fingerprint } = await import('../src-main/vault/crypto');
    const id = engine.db
      .transaction(() => beginImport(engine.db, productId, { name: 'x', pid: process.pid }, Date.now()))
      .immediate();
    engine.db
      .transaction(() => stageChunk(engine.db, id, [fingerprint(engine.vault.fingerprintKey, 'S')], [Buffer.alloc(0)], [1], 1))
      .immediate();
    // A staged code is not a key yet.
    expect(await s.count(`SELECT count(*) FROM temp.import_staging_${id}`)).toBe(1);
    expect(await call('keys.list', { productId, offset: 0, limit: 10 })).toEqual({ total: 0, rows: [] });
    expect(await call('products.stock', { id: productId })).toEqual({ available: 0, reserved: 0, sold: 0 });
  });
});
