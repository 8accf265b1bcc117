/**
 * The code import against real SQLite files: every format and encoding, header aliases, the preview's
 * counts, and atomicity (a failure in the middle, a cancel, a crash: nothing stored), plus the bad
 * imports (wrong encoding, duplicates only, a 10 MB line, a binary file) that must fail with one clear
 * error and leave the vault and the ledger as they were.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppEvent } from '../shared/rpc';
import { importCommand } from '../src-main/cli/commands/import';
import { DB_FILE, Engine } from '../src-main/engine/engine';
import { isEngineError } from '../src-main/engine/errors';
import { fingerprint, keyAad, open } from '../src-main/vault/crypto';
import { CryptoStage } from '../src-main/vault/import-crypto';
import { detectEncoding, LineSplitter, MAX_LINE_CHARS } from '../src-main/vault/import-decode';
import { beginImport, commitImport } from '../src-main/engine/stock-import';
import {
  classifyStaged,
  discardStaleImports,
  getImport,
  listImports,
  markLive,
  stageChunk,
  staging,
  STALE_IMPORT_MS,
} from '../src-main/vault/import-store';
import { ROOT } from './helpers/buyer-process';
import { tempDir } from './helpers/shop';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function shop(): Promise<{ engine: Engine; dir: string; productId: string }> {
  const { dir, cleanup } = tempDir();
  const engine = Engine.open({ dataDir: dir });
  cleanups.push(cleanup, () => engine.close());
  const product = await engine.createProduct({ name: 'Steam 50', price: { amount: 5000, currency: 'CNY' } });
  return { engine, dir, productId: product.id };
}

/**
 * The product's available codes, opened: import by import, and sorted inside each import (an import
 * stores its codes in fingerprint order, so ids within one import follow no line order).
 */
function storedCodes(engine: Engine, productId: string): string[] {
  const rows = engine.db
    .prepare(
      `SELECT import_id, fingerprint, sealed FROM keys WHERE product_no = (SELECT no FROM products WHERE id = ?) AND status = 'available' ORDER BY id`,
    )
    .all(productId) as { import_id: number; fingerprint: Buffer; sealed: Buffer }[];
  return rows
    .map((r) => ({
      importId: r.import_id,
      code: open(engine.vault.sealKey, r.sealed, keyAad(productId, r.fingerprint)).toString('utf8'),
    }))
    .sort((a, b) => a.importId - b.importId || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))
    .map((r) => r.code);
}

/** Staged rows in every import's staging table on this connection. */
function stagedRows(engine: Engine): number {
  const tables = engine.db
    .prepare(`SELECT name FROM temp.sqlite_master WHERE type = 'table' AND name LIKE 'import_staging_%'`)
    .pluck()
    .all() as string[];
  return tables.reduce(
    (sum, name) => sum + (engine.db.prepare(`SELECT count(*) FROM temp."${name}"`).pluck().get() as number),
    0,
  );
}

function counts(engine: Engine): { keys: number; staged: number; ledger: number; stock: number } {
  const one = (sql: string): number => engine.db.prepare(sql).pluck().get() as number;
  return {
    keys: one('SELECT count(*) FROM keys'),
    staged: stagedRows(engine) + one(`SELECT count(*) FROM keys WHERE status = 'staged'`),
    ledger: one('SELECT count(*) FROM ledger'),
    stock: one('SELECT coalesce(sum(available), 0) FROM products'),
  };
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isEngineError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected the import to fail');
}

const codes = (n: number, prefix = 'CODE'): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(7, '0')}`);

describe('import sources', () => {
  it('imports a .txt file, one code per line, sealed at rest, with one ledger entry', async () => {
    const { engine, dir, productId } = await shop();
    const file = join(dir, 'codes.txt');
    writeFileSync(file, 'AAAA-1111\r\nBBBB-2222\r\n  CCCC-3333  \r\n');
    const events: AppEvent[] = [];
    cleanups.push(engine.events.subscribe((e) => events.push(e)));
    const report = await engine.importCodes(productId, { kind: 'file', path: file });
    expect(report).toMatchObject({ imported: 3, accepted: 3, encoding: 'utf-8', format: 'txt', lines: 3, duplicatesInBatch: 0 });
    expect(storedCodes(engine, productId)).toEqual(['AAAA-1111', 'BBBB-2222', 'CCCC-3333']);
    const sealed = engine.db.prepare('SELECT sealed FROM keys').pluck().all() as Buffer[];
    for (const box of sealed) expect(box.includes(Buffer.from('1111'))).toBe(false);
    expect(engine.getProduct(productId)?.stock).toEqual({ available: 3, reserved: 0, sold: 0 });
    const ledger = engine.db.prepare(`SELECT kind, key_ids FROM ledger`).all();
    expect(ledger).toEqual([{ kind: 'import', key_ids: '1-3' }]);
    expect(engine.verifyLedger().ok).toBe(true);
    expect(listImports(engine.db, productId).map((i) => [i.state, i.accepted])).toEqual([['committed', 3]]);
    expect(events).toContainEqual({ type: 'import', productId, done: 3, total: 3 });
    expect(events).toContainEqual({ type: 'stock', productId });
  });

  it('imports pasted text and uploaded bytes, with lone-CR line ends', async () => {
    const { engine, productId } = await shop();
    expect((await engine.importCodes(productId, { kind: 'text', text: 'P-1\nP-2' })).imported).toBe(2);
    const bytes = Buffer.from('B-1\rB-2\rB-3\r');
    expect(await engine.importCodes(productId, { kind: 'bytes', data: bytes, name: 'mac.txt' })).toMatchObject({
      imported: 3,
      lines: 3,
    });
    expect(storedCodes(engine, productId)).toEqual(['P-1', 'P-2', 'B-1', 'B-2', 'B-3']);
  });

  it('finds the code column of a UTF-8 CSV (with BOM) by header alias, by name and by number', async () => {
    const { engine, dir, productId } = await shop();
    const file = join(dir, 'codes.csv');
    writeFileSync(file, '\ufeff序号,卡密,备注\n1,K-1,第一张\n2,"K-2",\n3,K-3,"a, b"\n');
    const preview = await engine.previewImport(productId, { kind: 'file', path: file });
    expect(preview).toMatchObject({
      accepted: 3,
      encoding: 'utf-8',
      bom: true,
      format: 'csv',
      column: { index: 2, name: '卡密' },
    });
    const byName = await engine.previewImport(productId, { kind: 'file', path: file }, { column: '备注' });
    expect(byName).toMatchObject({ accepted: 2, blank: 1, column: { index: 3, name: '备注' } });
    const byNumber = await engine.importCodes(productId, { kind: 'file', path: file }, { column: '2' });
    expect(byNumber).toMatchObject({ imported: 3, column: { index: 2, name: '卡密' } });
    expect(storedCodes(engine, productId)).toEqual(['K-1', 'K-2', 'K-3']);
  });

  it('recognises header aliases in any case, with spaces, and in a tab-separated file', async () => {
    const { engine, productId } = await shop();
    const cases: [string, number][] = [
      ['id, Code \n1,A\n', 2],
      ['CDKEY;note\nA;x\n', 1],
      ['note\t序列号\nx\tA\n', 2],
      ['兑换码,x\nA,1\n', 1],
      ['Serial Number,x\nA,1\n', 1],
      ['x,LICENSE,y\n1,A,2\n', 2],
      ['激活码\nA\n', 1],
    ];
    for (const [text, column] of cases) {
      const report = await engine.previewImport(productId, { kind: 'text', text, format: 'csv' });
      expect(report.column?.index, text).toBe(column);
      expect(report.accepted, text).toBe(1);
    }
    // A text file whose first line is a header: the header is not a code.
    expect(await engine.previewImport(productId, { kind: 'text', text: 'Code\nA\nB\n' })).toMatchObject({
      accepted: 2,
      column: { index: 1 },
    });
  });

  it('refuses a CSV whose code column cannot be told, naming its columns', async () => {
    const { engine, productId } = await shop();
    const error = await rejection(engine.importCodes(productId, { kind: 'text', text: 'a,b\n1,2\n', format: 'csv' }));
    expect(error.code).toBe('import_rejected');
    expect(error.message).toContain('cannot tell which column holds the codes');
    const missing = await rejection(
      engine.importCodes(productId, { kind: 'text', text: 'code,b\n1,2\n', format: 'csv' }, { column: 'nope' }),
    );
    expect(missing.message).toContain('no column named "nope"');
    expect(counts(engine).keys).toBe(0);
  });

  it('detects a GBK CSV (written with iconv-lite) and decodes it', async () => {
    const { engine, dir, productId } = await shop();
    const file = join(dir, 'gbk.csv');
    const rows = ['卡号,激活码,备注', ...Array.from({ length: 50 }, (_, i) => `${i},码-${i}-甲乙,第${i}张充值卡`)];
    writeFileSync(file, iconv.encode(`${rows.join('\r\n')}\r\n`, 'gbk'));
    const report = await engine.importCodes(productId, { kind: 'file', path: file });
    expect(report).toMatchObject({ imported: 50, encoding: 'gbk', column: { index: 1, name: '卡号' } });
    const second = await engine.importCodes(productId, { kind: 'file', path: file }, { column: '激活码' });
    expect(second.imported).toBe(50);
    expect(storedCodes(engine, productId).slice(50, 52)).toEqual(['码-0-甲乙', '码-1-甲乙']);
    // Short GBK text (a header and ASCII codes) is detected too, and forcing the encoding works.
    const short = iconv.encode('卡密\r\nX-1\r\n', 'gbk');
    expect(detectEncoding(short)).toEqual({ encoding: 'gbk', bom: false });
    expect(
      await engine.previewImport(productId, { kind: 'bytes', data: short, name: 's.txt' }, { encoding: 'gbk' }),
    ).toMatchObject({ accepted: 1, column: { index: 1, name: '卡密' } });
  });

  it('streams from a stream source (stdin) and reports progress without a total', async () => {
    const { engine, productId } = await shop();
    const seen: (number | null)[] = [];
    const stream = Readable.from([Buffer.from('S-1\nS-'), Buffer.from('2\nS-3\n')]);
    const report = await engine.importCodes(
      productId,
      { kind: 'stream', stream, name: 'stdin' },
      { onProgress: (p) => seen.push(p.total) },
    );
    expect(report.imported).toBe(3);
    expect(seen.every((t) => t === null)).toBe(true);
    expect(storedCodes(engine, productId)).toEqual(['S-1', 'S-2', 'S-3']);
  });

  it('seals in a worker thread exactly as the vault would, for a big import', async () => {
    const { engine, dir, productId } = await shop();
    const file = join(dir, 'big.txt');
    const all = codes(60_000);
    writeFileSync(file, `${all.join('\n')}\n`);
    const progress: number[] = [];
    const report = await engine.importCodes(
      productId,
      { kind: 'file', path: file },
      { onProgress: (p) => progress.push(p.done), chunkSize: 5000 },
    );
    expect(report.imported).toBe(60_000);
    expect(progress.at(-1)).toBe(60_000);
    expect(storedCodes(engine, productId)).toEqual([...all].sort());
    // Each row's fingerprint is the vault's HMAC of the code its sealed value opens to.
    const rows = engine.db.prepare('SELECT fingerprint, sealed FROM keys').all() as { fingerprint: Buffer; sealed: Buffer }[];
    for (const row of rows.filter((_, i) => i % 997 === 0)) {
      const code = open(engine.vault.sealKey, row.sealed, keyAad(productId, row.fingerprint)).toString('utf8');
      expect(row.fingerprint).toEqual(fingerprint(engine.vault.fingerprintKey, code));
    }
    expect(engine.verifyLedger().ok).toBe(true);
    // The worker's fingerprints match the vault's for any text, not just ASCII.
    const stage = new CryptoStage(engine.vault, productId, { seal: true, workerAfter: 0 });
    try {
      const odd = ['卡密-χ-😀', 'x'.repeat(999), ' a b '];
      const out = await stage.process(odd);
      odd.forEach((code, i) => {
        expect(Buffer.from(out.fingerprints[i]!)).toEqual(fingerprint(engine.vault.fingerprintKey, code));
        expect(
          open(
            engine.vault.sealKey,
            out.sealed[i]!,
            keyAad(productId, fingerprint(engine.vault.fingerprintKey, code)),
          ).toString(),
        ).toBe(code);
      });
    } finally {
      stage.close();
    }
  }, 120_000);

  it('splits lines across chunk boundaries and caps an over-long line without keeping it', () => {
    const splitter = new LineSplitter();
    const out: (string | null)[] = [];
    splitter.push('ab\r', out);
    splitter.push('\ncd', out);
    splitter.push('x'.repeat(600), out);
    splitter.push('x'.repeat(600), out);
    splitter.push('\nef', out);
    splitter.end(out);
    expect(out).toEqual(['ab', null, 'ef']);
  });

  it('splits any text at LF, CRLF and lone CR exactly like one split of the whole, wherever the chunks are cut', () => {
    // Lines near the cap, so that over-long lines and breaks at chunk edges both come up.
    const piece = fc.oneof(
      fc.constantFrom('\n', '\r', '\r\n', '', 'a'),
      fc.nat(MAX_LINE_CHARS + 5).map((n) => 'x'.repeat(n)),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), (pieces, cuts) => {
        const text = pieces.join('');
        const expected: (string | null)[] = text.split(/\r\n|\r|\n/).map((line) => (line.length > MAX_LINE_CHARS ? null : line));
        if (expected[expected.length - 1] === '') expected.pop();
        const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const splitter = new LineSplitter();
        const out: (string | null)[] = [];
        let from = 0;
        for (const to of [...at, text.length]) {
          splitter.push(text.slice(from, to), out);
          from = to;
        }
        splitter.end(out);
        expect(out).toEqual(expected);
        expect(splitter.linesSoFar).toBe(expected.length);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('import preview', () => {
  it('counts accepted codes, blank and over-long lines, duplicates in the batch and in the vault; stores nothing', async () => {
    const { engine, productId } = await shop();
    await engine.importCodes(productId, { kind: 'text', text: 'OLD-1\nOLD-2' });
    const before = counts(engine);
    const lines = ['NEW-1', '', 'OLD-1', 'NEW-2', '   ', 'NEW-1', 'x'.repeat(1001), 'OLD-2', 'NEW-1', 'bad\u0001code', 'NEW-3'];
    const report = await engine.previewImport(productId, { kind: 'text', text: lines.join('\n') });
    expect(report).toMatchObject({
      dryRun: true,
      importId: null,
      imported: 0,
      lines: 11,
      accepted: 3,
      blank: 2,
      overLong: 1,
      invalid: 1,
      duplicatesInBatch: 2,
      duplicatesInVault: 2,
      samples: { duplicatesInBatch: [6, 9], duplicatesInVault: [3, 8], blank: [2, 5], overLong: [7], invalid: [10] },
    });
    expect(report.rejected.map((r) => r.line)).toEqual([7, 10]);
    expect(counts(engine)).toEqual(before);
    expect(listImports(engine.db, productId)).toHaveLength(1);
    // The preview's numbers are what the commit then does.
    const done = await engine.importCodes(productId, { kind: 'text', text: lines.join('\n') });
    expect(done).toMatchObject({
      imported: 3,
      duplicatesInBatch: 2,
      duplicatesInVault: 2,
      samples: { duplicatesInBatch: [6, 9], duplicatesInVault: [3, 8] },
    });
    expect(listImports(engine.db, productId).at(-1)).toMatchObject({
      state: 'committed',
      accepted: 3,
      duplicates: 4,
      rejected: 2,
    });
  });

  it('counts, previews and stores exactly what a model of the file says, for any mix of new, repeated and known codes', async () => {
    const { engine } = await shop();
    const code = (n: number): string => `CODE-${n}`;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 25 }), { minLength: 1, maxLength: 50 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 25 }), { maxLength: 15 }),
        fc.integer({ min: 1, max: 7 }),
        async (file, known, chunkSize) => {
          const product = await engine.createProduct({ name: 'P', price: { amount: 1, currency: 'CNY' } });
          if (known.length > 0) await engine.importCodes(product.id, { kind: 'text', text: known.map(code).join('\n') });
          // The model: a code in the vault is a duplicate on every line; else its first line is accepted.
          const vault = new Set(known);
          const seen = new Set<number>();
          const inBatchLines: number[] = [];
          const inVaultLines: number[] = [];
          file.forEach((n, i) => {
            if (vault.has(n)) inVaultLines.push(i + 1);
            else if (seen.has(n)) inBatchLines.push(i + 1);
            else seen.add(n);
          });
          const expected = {
            accepted: seen.size,
            duplicatesInBatch: inBatchLines.length,
            duplicatesInVault: inVaultLines.length,
            samples: { duplicatesInBatch: inBatchLines.slice(0, 20), duplicatesInVault: inVaultLines.slice(0, 20) },
          };
          const source = { kind: 'text' as const, text: file.map(code).join('\n') };
          expect(await engine.previewImport(product.id, source, { chunkSize })).toMatchObject(expected);
          if (seen.size === 0) {
            await expect(engine.importCodes(product.id, source, { chunkSize })).rejects.toThrow(/nothing to import/);
          } else {
            expect(await engine.importCodes(product.id, source, { chunkSize })).toMatchObject({
              ...expected,
              imported: seen.size,
            });
          }
          const stored = storedCodes(engine, product.id).sort();
          expect(stored).toEqual([...known, ...seen].map(code).sort());
          expect(engine.getProduct(product.id)?.stock.available).toBe(known.length + seen.size);
        },
      ),
      { numRuns: 60 },
    );
    expect(stagedRows(engine)).toBe(0);
    expect(engine.verifyLedger().ok).toBe(true);
  });

  it('commits in fingerprint order; a code the vault holds by then (another import stored it meanwhile) is counted as in the vault', async () => {
    const { engine, productId } = await shop();
    const fp = (code: string) => fingerprint(engine.vault.fingerprintKey, code);
    const write = <T>(fn: () => T): T => engine.db.transaction(fn).immediate();
    const counts = (source: string) => ({ rejected: 0, source, keep: 20 });
    const slow = write(() => beginImport(engine.db, productId, { name: 'slow.txt', pid: process.pid }, 1));
    const codes = ['C-1', 'C-2', 'C-3', 'C-2', 'C-4', 'C-3'];
    const staged = write(() =>
      stageChunk(
        engine.db,
        slow,
        codes.map(fp),
        codes.map(() => Buffer.from('s')),
        [1, 2, 3, 4, 5, 6],
        1,
      ),
    );
    expect(staged).toEqual({ staged: 6 });
    // Meanwhile a faster import stores C-3.
    const fast = write(() => beginImport(engine.db, productId, { name: 'fast.txt', pid: process.pid }, 2));
    write(() => stageChunk(engine.db, fast, [fp('C-3')], [Buffer.from('s')], [1], 2));
    expect(write(() => commitImport(engine.db, fast, counts('fast.txt'), 2)).imported).toBe(1);
    expect(classifyStaged(engine.db, slow, productId, 20)).toEqual({
      inBatch: { count: 1, lines: [4] },
      inVault: { count: 2, lines: [3, 6] },
    });
    const done = write(() => commitImport(engine.db, slow, counts('slow.txt'), 3));
    expect(done).toEqual({ imported: 3, inBatch: { count: 1, lines: [4] }, inVault: { count: 2, lines: [3, 6] } });
    expect(getImport(engine.db, slow)).toMatchObject({ state: 'committed', accepted: 3, duplicates: 3 });
    // The new keys follow the fast import's key, in fingerprint order, and nothing stays staged.
    const rows = engine.db.prepare('SELECT id, fingerprint FROM keys WHERE import_id = ? ORDER BY id').all(slow) as {
      id: number;
      fingerprint: Buffer;
    }[];
    expect(rows.map((r) => r.id)).toEqual([2, 3, 4]);
    const sorted = [...rows.map((r) => r.fingerprint)].sort((a, b) => Buffer.compare(a, b));
    expect(rows.map((r) => r.fingerprint)).toEqual(sorted);
    expect(stagedRows(engine)).toBe(0);
    expect(engine.getProduct(productId)?.stock.available).toBe(4);
    expect(engine.verifyLedger().ok).toBe(true);
    // A key that came from no import at all is in the vault too.
    engine.db
      .prepare(
        `INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at) VALUES ((SELECT no FROM products WHERE id = ?), ?, x'00', 'available', 4)`,
      )
      .run(productId, fp('C-8'));
    // An import whose every staged code is in the vault by the commit writes nothing and says why.
    const late = write(() => beginImport(engine.db, productId, { name: 'late.txt', pid: process.pid }, 4));
    write(() => stageChunk(engine.db, late, [fp('C-9'), fp('C-8')], [Buffer.from('s'), Buffer.from('s')], [1, 2], 4));
    const other = write(() => beginImport(engine.db, productId, { name: 'other.txt', pid: process.pid }, 4));
    write(() => stageChunk(engine.db, other, [fp('C-9')], [Buffer.from('s')], [1], 4));
    write(() => commitImport(engine.db, other, counts('other.txt'), 4));
    const ledger = engine.db.prepare('SELECT count(*) FROM ledger').pluck().get();
    expect(write(() => commitImport(engine.db, late, counts('late.txt'), 5))).toEqual({
      imported: 0,
      inBatch: { count: 0, lines: [] },
      inVault: { count: 2, lines: [1, 2] },
    });
    expect(getImport(engine.db, late)?.state).toBe('staging');
    expect(engine.db.prepare('SELECT count(*) FROM ledger').pluck().get()).toBe(ledger);
    expect(
      engine.db
        .prepare(`SELECT count(*) FROM ${staging(engine.db, late)}`)
        .pluck()
        .get(),
    ).toBe(2);
  });

  it('keeps only the first N line numbers of each kind', async () => {
    const { engine, productId } = await shop();
    const report = await engine.previewImport(
      productId,
      { kind: 'text', text: ['A', ...Array(30).fill('A')].join('\n') },
      { sampleLines: 5 },
    );
    expect(report.duplicatesInBatch).toBe(30);
    expect(report.samples.duplicatesInBatch).toEqual([2, 3, 4, 5, 6]);
  });
});

describe('bad imports store nothing', () => {
  async function expectNothingStored(engine: Engine, before: ReturnType<typeof counts>): Promise<void> {
    await engine.writer.idle();
    expect(counts(engine)).toEqual(before);
    expect(engine.verifyLedger().ok).toBe(true);
    const states = listImports(engine.db).map((i) => i.state);
    expect(states.filter((s) => s === 'staging')).toEqual([]);
  }

  it('refuses a file in the wrong encoding with a clear error', async () => {
    const { engine, dir, productId } = await shop();
    await engine.importCodes(productId, { kind: 'text', text: 'KEEP-1' });
    const before = counts(engine);
    const latin1 = join(dir, 'latin1.txt');
    writeFileSync(latin1, iconv.encode('café-1111\nnaïve-2222\nrésumé-3\n', 'latin1'));
    const wrong = await rejection(engine.importCodes(productId, { kind: 'file', path: latin1 }));
    expect(wrong.code).toBe('import_rejected');
    expect(wrong.message).toMatch(/neither UTF-8 nor GBK/);
    const gbk = join(dir, 'gbk.txt');
    writeFileSync(gbk, iconv.encode('卡密\nA-1\n测试-2\n', 'gbk'));
    const forced = await rejection(engine.importCodes(productId, { kind: 'file', path: gbk }, { encoding: 'utf-8' }));
    expect(forced.message).toBe('line 1 is not valid UTF-8: if the file is GBK, pass the encoding gbk');
    const utf16 = join(dir, 'utf16.txt');
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode('A-1\n', 'utf16le')]));
    expect((await rejection(engine.importCodes(productId, { kind: 'file', path: utf16 }))).message).toMatch(/UTF-16/);
    // Valid UTF-8 for the first megabyte, GBK after it: refused with the line number, after staging began.
    const late = join(dir, 'late.txt');
    writeFileSync(late, Buffer.concat([Buffer.from(`${codes(100_000).join('\n')}\n`), iconv.encode('测试-1\n', 'gbk')]));
    const lateError = await rejection(engine.importCodes(productId, { kind: 'file', path: late }));
    expect(lateError.message).toBe('line 100001 is not valid UTF-8: if the file is GBK, pass the encoding gbk');
    await expectNothingStored(engine, before);
  }, 120_000);

  it('refuses a file of duplicates only', async () => {
    const { engine, productId } = await shop();
    await engine.importCodes(productId, { kind: 'text', text: 'D-1\nD-2' });
    const before = counts(engine);
    const error = await rejection(engine.importCodes(productId, { kind: 'text', text: 'D-1\nD-2\nD-1\n\n' }));
    expect(error).toEqual({
      code: 'import_rejected',
      message: 'nothing to import from pasted text: no new codes (3 already in the vault, 1 blank); nothing was stored',
    });
    await expectNothingStored(engine, before);
    expect(listImports(engine.db).map((i) => i.state)).toEqual(['committed', 'discarded']);
  });

  it('rejects a 10 MB line without buffering it, and refuses a file that is only that line', async () => {
    const { engine, dir, productId } = await shop();
    const before = counts(engine);
    const file = join(dir, 'long.txt');
    writeFileSync(file, 'Z'.repeat(10 * 1024 * 1024));
    const error = await rejection(engine.importCodes(productId, { kind: 'file', path: file }));
    expect(error.message).toBe(
      'nothing to import from long.txt: no new codes (1 longer than 1000 characters); nothing was stored',
    );
    await expectNothingStored(engine, before);
    const mixed = join(dir, 'mixed.txt');
    writeFileSync(mixed, `M-1\n${'Z'.repeat(10 * 1024 * 1024)}\nM-2\n`);
    const report = await engine.importCodes(productId, { kind: 'file', path: mixed });
    expect(report).toMatchObject({ imported: 2, overLong: 1, rejected: [{ line: 2, reason: 'longer than 1000 characters' }] });
  }, 120_000);

  it('refuses a binary file', async () => {
    const { engine, dir, productId } = await shop();
    const before = counts(engine);
    const file = join(dir, 'image.png');
    writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]));
    const error = await rejection(engine.importCodes(productId, { kind: 'file', path: file }));
    expect(error.message).toBe('this is a binary file, not text: export the codes as .txt or .csv');
    const control = Buffer.alloc(4000);
    for (let i = 0; i < control.length; i++) control[i] = i % 3 === 0 ? 0x01 : 0x41 + (i % 26);
    expect((await rejection(engine.importCodes(productId, { kind: 'bytes', data: control, name: 'x.txt' }))).message).toMatch(
      /binary file/,
    );
    // NUL bytes after the first 64 KiB: found while streaming, after staging began.
    const late = join(dir, 'late.txt');
    writeFileSync(late, Buffer.concat([Buffer.from(`${codes(10_000).join('\n')}\n`), Buffer.alloc(100)]));
    expect((await rejection(engine.importCodes(productId, { kind: 'file', path: late }))).message).toMatch(/binary file/);
    await expectNothingStored(engine, before);
  }, 120_000);

  it('says which file cannot be read, and refuses an unknown product or encoding', async () => {
    const { engine, dir, productId } = await shop();
    expect((await rejection(engine.importCodes(productId, { kind: 'file', path: join(dir, 'missing.txt') }))).message).toBe(
      'cannot read missing.txt: ENOENT',
    );
    expect((await rejection(engine.importCodes('prd_nope', { kind: 'text', text: 'A' }))).code).toBe('product_not_found');
    expect((await rejection(engine.importCodes(productId, { kind: 'text', text: 'A' }, { encoding: 'latin1' }))).code).toBe(
      'validation_failed',
    );
    expect(counts(engine).keys).toBe(0);
  });
});

describe('import atomicity', () => {
  it('stores nothing when staging fails in the middle', async () => {
    const { engine, dir, productId } = await shop();
    const all = codes(50_000);
    const file = join(dir, 'codes.txt');
    writeFileSync(file, all.join('\n'));
    const before = counts(engine);
    const poison = fingerprint(engine.vault.fingerprintKey, all[30_000]!).toString('hex');
    // The shop's first import gets id 1: its staging table, made ahead, carries the failing trigger.
    engine.db.exec(
      `CREATE TEMP TRIGGER fail_mid BEFORE INSERT ON ${staging(engine.db, 1)} WHEN NEW.fingerprint = x'${poison}' BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
    );
    await expect(engine.importCodes(productId, { kind: 'file', path: file }, { chunkSize: 4096 })).rejects.toThrow(
      'injected failure',
    );
    expect(counts(engine)).toEqual(before);
    expect(listImports(engine.db).map((i) => [i.id, i.state])).toEqual([[1, 'discarded']]);
    // The discard dropped the table, and its trigger with it.
    expect(
      engine.db.prepare(`SELECT count(*) FROM temp.sqlite_master WHERE name IN ('fail_mid', 'import_staging_1')`).pluck().get(),
    ).toBe(0);
    expect((await engine.importCodes(productId, { kind: 'file', path: file })).imported).toBe(50_000);
  }, 120_000);

  it('stores nothing when the final commit fails', async () => {
    const { engine, productId } = await shop();
    engine.db.exec(
      `CREATE TEMP TRIGGER fail_commit BEFORE INSERT ON main.ledger BEGIN SELECT RAISE(ABORT, 'ledger disk on fire'); END`,
    );
    await expect(engine.importCodes(productId, { kind: 'text', text: codes(100).join('\n') })).rejects.toThrow(
      'ledger disk on fire',
    );
    engine.db.exec('DROP TRIGGER temp.fail_commit');
    expect(counts(engine)).toEqual({ keys: 0, staged: 0, ledger: 0, stock: 0 });
    expect(engine.verifyLedger().ok).toBe(true);
  });

  it('stores nothing when cancelled', async () => {
    const { engine, dir, productId } = await shop();
    const file = join(dir, 'codes.txt');
    writeFileSync(file, codes(100_000).join('\n'));
    const controller = new AbortController();
    let staged = 0;
    const promise = engine.importCodes(
      productId,
      { kind: 'file', path: file },
      {
        chunkSize: 4096,
        signal: controller.signal,
        onProgress: () => {
          staged = stagedRows(engine);
          controller.abort();
        },
      },
    );
    await expect(promise).rejects.toThrow(/aborted/i);
    expect(staged).toBeGreaterThan(0);
    expect(counts(engine)).toEqual({ keys: 0, staged: 0, ledger: 0, stock: 0 });
    expect(listImports(engine.db).map((i) => i.state)).toEqual(['discarded']);
  }, 120_000);

  it('runs imports into one product one after another: the second waits, then sees the first as duplicates', async () => {
    const { engine, productId } = await shop();
    const first = engine.importCodes(productId, { kind: 'text', text: codes(10).join('\n') });
    const second = engine.importCodes(productId, { kind: 'text', text: [...codes(10), 'NEW-CODE-1'].join('\n') });
    expect((await first).imported).toBe(10);
    const report = await second;
    expect(report.imported).toBe(1);
    expect(report.duplicatesInVault).toBe(10);
    expect(counts(engine).stock).toBe(11);
  });

  it('gives up waiting for an import when its signal aborts, and the queue goes on', async () => {
    const { engine, productId } = await shop();
    const first = engine.importCodes(productId, { kind: 'text', text: codes(10).join('\n') });
    const controller = new AbortController();
    const waiting = engine.importCodes(productId, { kind: 'text', text: 'WAITER-1' }, { signal: controller.signal });
    const third = engine.importCodes(productId, { kind: 'text', text: 'THIRD-1' });
    controller.abort();
    await expect(waiting).rejects.toThrow(/abort/i);
    expect((await first).imported).toBe(10);
    expect((await third).imported).toBe(1);
    expect(counts(engine).stock).toBe(11);
  });

  it('discards a staging import left by a dead process when the shop opens', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const engine = Engine.open({ dataDir: dir });
    const product = await engine.createProduct({ name: 'X', price: { amount: 1, currency: 'CNY' } });
    const fp = fingerprint(engine.vault.fingerprintKey, 'GHOST-1');
    const deadPid = 2 ** 22 + 12345;
    const id = engine.db
      .transaction(() => beginImport(engine.db, product.id, { name: 'crash.txt', pid: deadPid }, 1))
      .immediate();
    engine.db.transaction(() => stageChunk(engine.db, id, [fp], [Buffer.from('sealed')], [1], 1)).immediate();
    const otherPid = deadPid + 1;
    const other = engine.db
      .transaction(() => beginImport(engine.db, product.id, { name: 'other.txt', pid: otherPid }, Date.now()))
      .immediate();
    const mine = engine.db
      .transaction(() => beginImport(engine.db, product.id, { name: 'mine.txt', pid: process.pid }, Date.now()))
      .immediate();
    const orphan = engine.db
      .transaction(() => beginImport(engine.db, product.id, { name: 'orphan.txt', pid: process.pid }, Date.now()))
      .immediate();
    const unmark = markLive(engine.db, mine);
    // A live process's import, and one this process is running, are left alone; a dead process's and
    // one this process no longer runs (its engine closed mid-import) are discarded.
    expect(discardStaleImports(engine.db, Date.now(), (pid) => pid !== deadPid)).toEqual([id, orphan]);
    expect(listImports(engine.db).map((i) => [i.id, i.state])).toEqual([
      [id, 'discarded'],
      [other, 'staging'],
      [mine, 'staging'],
      [orphan, 'discarded'],
    ]);
    unmark();
    // Silent for too long, whoever owns it.
    expect(discardStaleImports(engine.db, Date.now() + STALE_IMPORT_MS + 1, () => true)).toEqual([other, mine]);
    await engine.close();
  });

  /**
   * Imports `total` codes with the real CLI and SIGKILLs it as soon as `enough` holds for the count of
   * staged codes (`imports.staged`, polled every 5 ms from a read-only connection); returns the last count seen.
   */
  async function killImportOnceStaged(
    dir: string,
    productId: string,
    total: number,
    enough: (staged: number) => boolean,
  ): Promise<number> {
    const file = join(dir, 'codes.txt');
    writeFileSync(file, codes(total).join('\n'));
    const child = spawn(process.execPath, ['bin/oncekey.js', 'import', '--data', dir, '--product', productId, file], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const watcher = new Database(join(dir, DB_FILE), { readonly: true });
    let staged = 0;
    try {
      const deadline = Date.now() + 150_000;
      while (!enough(staged) && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 5));
        staged = watcher.prepare(`SELECT coalesce(sum(staged), 0) FROM imports WHERE state = 'staging'`).pluck().get() as number;
      }
      child.kill('SIGKILL');
      await exited;
    } finally {
      child.kill('SIGKILL');
      watcher.close();
    }
    return staged;
  }

  it('a real crash: the CLI killed with SIGKILL mid-import leaves nothing, and the next open discards it', async () => {
    const { engine, dir, productId } = await shop();
    await engine.close();
    expect(await killImportOnceStaged(dir, productId, 400_000, (staged) => staged > 0)).toBeGreaterThan(0);
    const reopened = Engine.open({ dataDir: dir });
    cleanups.push(() => reopened.close());
    expect(counts(reopened)).toEqual({ keys: 0, staged: 0, ledger: 0, stock: 0 });
    expect(listImports(reopened.db).map((i) => i.state)).toEqual(['discarded']);
    expect(reopened.verifyLedger().ok).toBe(true);
  }, 180_000);

  it('a SIGKILL once every code is staged (so during the final copy into keys) leaves all of them or none', async () => {
    const { engine, dir, productId } = await shop();
    await engine.close();
    const total = 300_000;
    expect(await killImportOnceStaged(dir, productId, total, (staged) => staged === total)).toBe(total);
    const reopened = Engine.open({ dataDir: dir });
    cleanups.push(() => reopened.close());
    const after = counts(reopened);
    const state = listImports(reopened.db).map((i) => i.state);
    // Killed before the commit: nothing; after it: everything. Never a part.
    if (after.keys === 0) {
      expect(after).toEqual({ keys: 0, staged: 0, ledger: 0, stock: 0 });
      expect(state).toEqual(['discarded']);
    } else {
      expect(after).toEqual({ keys: total, staged: 0, ledger: 1, stock: total });
      expect(state).toEqual(['committed']);
    }
    expect(reopened.verifyLedger().ok).toBe(true);
  }, 180_000);
});

describe('oncekey import', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };

  it('previews, imports and prints a summary or one JSON object', async () => {
    const { engine, dir, productId } = await shop();
    await engine.close();
    const file = join(dir, 'codes.csv');
    writeFileSync(file, 'code,note\nC-1,x\nC-2,y\nC-1,z\n');
    const preview = capture();
    expect(await importCommand(['--data', dir, '--product', productId, file, '--dry-run'], preview.io)).toBe(0);
    expect(preview.out[0]).toBe(
      `preview: 2 new codes would be imported into ${productId} from codes.csv (utf-8, csv, column 1 "code"); nothing was stored`,
    );
    expect(preview.out).toContain('  repeated in the file:   1 (line 4)');
    const json = capture();
    expect(await importCommand(['--data', dir, '--product', productId, file, '--json'], json.io)).toBe(0);
    expect(json.out).toHaveLength(1);
    expect(JSON.parse(json.out[0]!)).toMatchObject({ imported: 2, duplicatesInBatch: 1, encoding: 'utf-8' });
  });

  it('fails with one clear line and a non-zero exit from the real command', async () => {
    const { engine, dir, productId } = await shop();
    await engine.close();
    const file = join(dir, 'codes.txt');
    writeFileSync(file, 'R-1\nR-2\n');
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['bin/oncekey.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
        child.on('error', reject);
        child.on('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    const ok = await run(['import', '--data', dir, '--product', productId, file]);
    expect(ok).toMatchObject({ code: 0, stderr: '' });
    expect(ok.stdout.split('\n')[0]).toBe(`imported 2 codes into ${productId} from codes.txt (utf-8, txt)`);
    const again = await run(['import', '--data', dir, '--product', productId, file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      'oncekey import: nothing to import from codes.txt: no new codes (2 already in the vault); nothing was stored (import_rejected)\n',
    );
    const usage = await run(['import', '--data', dir, '--product', productId]);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
  }, 180_000);
});
