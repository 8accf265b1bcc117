/**
 * The keys.* RPC methods through the real dispatcher against a real shop: preview and import from
 * text, a base64 upload and a path; the masked key table (never a whole code); the audited reveal.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it } from 'vitest';
import type { MethodName, Output } from '../shared/rpc';
import { Engine } from '../src-main/engine/engine';
import { Dispatcher, sqliteContext } from '../src-main/rpc/dispatcher';
import { HANDLERS } from '../src-main/rpc/handlers';
import { maskCode } from '../src-main/vault/key-access';
import { tempDir } from './helpers/shop';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup() {
  const { dir, cleanup } = tempDir();
  const engine = Engine.open({ dataDir: dir });
  cleanups.push(cleanup, () => engine.close());
  const { id: productId } = await engine.createProduct({ name: 'Gift 100', price: { amount: 10000, currency: 'CNY' } });
  const dispatcher = new Dispatcher(HANDLERS);
  const ctx = sqliteContext(engine, 'desktop:alice');
  const call = async <M extends MethodName>(method: M, input: unknown): Promise<Output<M>> => {
    const reply = await dispatcher.dispatch(method, input, ctx);
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.value as Output<M>;
  };
  const fails = async (method: MethodName, input: unknown): Promise<{ code: string; message: string }> => {
    const reply = await dispatcher.dispatch(method, input, ctx);
    if (reply.ok) throw new Error(`${method} should have failed`);
    return reply.error;
  };
  return { engine, dir, productId, call, fails };
}

const CODES = ['GIFT-AAAA-1111', 'GIFT-BBBB-2222', 'GIFT-CCCC-3333'];

describe('keys.preview and keys.import', () => {
  it('previews pasted text without storing, then imports it', async () => {
    const { engine, productId, call } = await setup();
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
    expect(engine.getProduct(productId)?.stock.available).toBe(0);
    const done = await call('keys.import', { productId, source: { kind: 'text', text } });
    expect(done).toMatchObject({ dryRun: false, imported: 3 });
    expect(engine.getProduct(productId)?.stock.available).toBe(3);
  });

  it('imports a browser upload (base64 GBK CSV) and a desktop path', async () => {
    const { dir, productId, call } = await setup();
    const csv = iconv.encode('备注,激活码\n第一张,UP-1\n第二张,UP-2\n', 'gbk');
    const upload = await call('keys.import', {
      productId,
      source: { kind: 'bytes', name: 'codes.csv', base64: csv.toString('base64') },
    });
    expect(upload).toMatchObject({ imported: 2, encoding: 'gbk', format: 'csv', column: { index: 2, name: '激活码' } });
    const file = join(dir, 'more.txt');
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
    const { productId, fails, call } = await setup();
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

describe('keys.list, keys.reveal and keys.audit', () => {
  it('lists keys newest first, masked to their last four characters, with paging and filters', async () => {
    const { engine, productId, call } = await setup();
    await call('keys.import', { productId, source: { kind: 'text', text: CODES.join('\n') } });
    const { result } = await engine.reserve({ productId, quantity: 1, email: 'b@example.com' });
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
    expect(rest.rows.map((r) => r.masked)).toEqual([all.rows[2]!.masked]);
    const reserved = await call('keys.list', { status: 'reserved' });
    expect(reserved.total).toBe(1);
    expect(reserved.rows[0]!.orderId).toMatch(/^ord_/);
    // No whole code anywhere in what the table receives.
    const everything = JSON.stringify(await call('keys.list', { offset: 0, limit: 500 }));
    for (const code of CODES) expect(everything).not.toContain(code);
  });

  it('never shows more than half of a short code', () => {
    expect(maskCode('AB12')).toBe('••••••••12');
    expect(maskCode('X')).toBe('••••••••');
    expect(maskCode('卡密-ABCDEFGH')).toBe('••••••••EFGH');
  });

  it('reveals or copies one code and writes the audit row in the same transaction', async () => {
    const { engine, productId, call, fails } = await setup();
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
    expect(JSON.stringify(audit)).not.toContain('GIFT-BBBB-2222');
    // A reveal that cannot commit its audit row shows nothing.
    engine.db.exec(`CREATE TEMP TRIGGER no_audit BEFORE INSERT ON main.audit BEGIN SELECT RAISE(ABORT, 'audit disk full'); END`);
    expect((await fails('keys.reveal', { keyId: key.id, purpose: 'reveal' })).code).toBe('internal_error');
    engine.db.exec('DROP TRIGGER temp.no_audit');
    expect((await call('keys.audit', { keyId: key.id })).rows).toHaveLength(2);
    expect((await fails('keys.reveal', { keyId: 999_999, purpose: 'reveal' })).code).toBe('not_found');
    expect((await fails('keys.reveal', { keyId: key.id, purpose: 'print' })).code).toBe('validation_failed');
  });

  it('does not list or reveal keys of an import still staging', async () => {
    const { engine, productId, call, fails } = await setup();
    const { beginImport } = await import('../src-main/engine/stock-import');
    const { stageChunk } = await import('../src-main/vault/import-store');
    const { fingerprint } = await import('../src-main/vault/crypto');
    const id = engine.db
      .transaction(() => beginImport(engine.db, productId, { name: 'x', pid: process.pid }, Date.now()))
      .immediate();
    engine.db
      .transaction(() => stageChunk(engine.db, id, [fingerprint(engine.vault.fingerprintKey, 'S')], [Buffer.alloc(0)], [1], 1))
      .immediate();
    expect(await call('keys.list', { offset: 0, limit: 10 })).toEqual({ total: 0, rows: [] });
    // A staged code is not a key yet; a key row an older OnceKey left `staged` is not shown either.
    expect(engine.db.prepare(`SELECT count(*) FROM temp.import_staging_${id}`).pluck().get()).toBe(1);
    const legacy = engine.db
      .prepare(
        `INSERT INTO keys (product_no, import_id, fingerprint, sealed, status, updated_at) VALUES ((SELECT no FROM products WHERE id = ?), ?, x'01', x'', 'staged', 1)`,
      )
      .run(productId, id).lastInsertRowid;
    expect(await call('keys.list', { offset: 0, limit: 10 })).toEqual({ total: 0, rows: [] });
    expect((await fails('keys.reveal', { keyId: Number(legacy), purpose: 'reveal' })).code).toBe('not_found');
  });
});
