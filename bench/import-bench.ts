/**
 * Import benchmark: a `.txt` file of N distinct codes is written to a temporary folder, then imported
 * (streamed, fingerprinted, sealed, staged in chunks, committed in one transaction with its ledger
 * entry) by a CHILD process, so the peak RSS is the import's own (`process.resourceUsage().maxRSS`,
 * read in the child) and not the generator's. The child also checks the result: every code stored,
 * stock counter right, ledger verified.
 *
 * `import_vs_limit` compares the import with a bare loop that does only what an import cannot skip:
 * the same per-code crypto through the same CryptoStage (HMAC fingerprint and AES-256-GCM seal, in the
 * same worker threads), staging in chunks into a temporary table, and the same sorted copy into `keys`
 * of a shop with the same schema; no file reading, decoding, line checks, dedupe report or ledger. The
 * two run in turns (ROUNDS rounds of ROUND_CODES codes, each on a fresh shop) in a second child, and the
 * figure is the median of the rounds' ratios with the lowest and highest beside it.
 *
 * `benchImport({codes})` returns `import_codes_per_s`, `import_peak_rss_mb` and `import_vs_limit`;
 * `node --import tsx bench/import-bench.ts [codes]` prints them.
 */
import { fork } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src-main/engine/engine';
import { CryptoStage } from '../src-main/vault/import-crypto';
import { median, spread } from './rounds';

export interface ImportBenchOptions {
  readonly codes: number;
  /** Codes per round of the import-against-limit comparison (default 250,000). */
  readonly roundCodes?: number;
  readonly rounds?: number;
}

type ChildSpec =
  | { readonly kind: 'import'; readonly dataDir: string; readonly file: string; readonly codes: number }
  | { readonly kind: 'rounds'; readonly dir: string; readonly file: string; readonly codes: number; readonly rounds: number };

interface RoundsResult {
  readonly importSeconds: number[];
  readonly limitSeconds: number[];
}

interface ChildResult {
  readonly seconds: number;
  readonly maxRssKb: number;
  readonly imported: number;
  readonly ledgerOk: boolean;
  readonly available: number;
}

const SELF = fileURLToPath(import.meta.url);

/** The i-th of the benchmark's distinct gift-card-like codes (24 characters). */
function codeAt(i: number): string {
  const n = (i * 2654435761) % 4294967296;
  return `GC-${n.toString(36).toUpperCase().padStart(7, '0')}-${i.toString(36).toUpperCase().padStart(8, '0')}-X`;
}

/** Writes N distinct codes, one per line, without holding them all. */
async function writeCodes(file: string, codes: number): Promise<void> {
  const out = createWriteStream(file);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  const perChunk = 10_000;
  for (let start = 0; start < codes; start += perChunk) {
    let text = '';
    for (let i = start; i < Math.min(codes, start + perChunk); i++) text += `${codeAt(i)}\n`;
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  out.end();
  await done;
}

async function runImport(spec: Extract<ChildSpec, { kind: 'import' }>): Promise<ChildResult> {
  const engine = Engine.open({ dataDir: spec.dataDir });
  try {
    const product = await engine.createProduct({ name: 'Bench', price: { amount: 100, currency: 'CNY' } });
    const started = performance.now();
    const report = await engine.importCodes(product.id, { kind: 'file', path: spec.file });
    const seconds = (performance.now() - started) / 1000;
    const maxRssKb = process.resourceUsage().maxRSS;
    return {
      seconds,
      maxRssKb,
      imported: report.imported,
      ledgerOk: engine.verifyLedger().ok,
      available: engine.getProduct(product.id)?.stock.available ?? -1,
    };
  } finally {
    await engine.close();
  }
}

/** The import's chunk size (src-main/vault/import.ts). */
const CHUNK = 8192;

/**
 * The limit: `codes` codes made in memory beforehand, fingerprinted and sealed by the import's own
 * CryptoStage, staged a chunk a transaction (the next chunk's crypto running meanwhile, at most two
 * in flight, as the import does), then copied into `keys` sorted by fingerprint in one transaction.
 */
async function limitLoop(dataDir: string, count: number): Promise<number> {
  const engine = Engine.open({ dataDir });
  try {
    const product = await engine.createProduct({ name: 'Limit', price: { amount: 100, currency: 'CNY' } });
    const codes = Array.from({ length: count }, (_, i) => codeAt(i));
    const db = engine.db;
    const crypto = new CryptoStage(engine.vault, product.id, { seal: true });
    try {
      const started = performance.now();
      db.exec('CREATE TEMP TABLE limit_staging (line INTEGER NOT NULL, fingerprint BLOB NOT NULL, sealed BLOB NOT NULL) STRICT');
      const append = db.prepare('INSERT INTO temp.limit_staging (line, fingerprint, sealed) VALUES (?, ?, ?)');
      const stageChunk = db.transaction((from: number, fps: readonly Uint8Array[], sealed: readonly Uint8Array[]) => {
        for (let i = 0; i < fps.length; i++) append.run(from + i + 1, fps[i], sealed[i]);
      });
      let previous: Promise<void> = Promise.resolve();
      for (let at = 0; at < count; at += CHUNK) {
        const prepared = crypto.process(codes.slice(at, at + CHUNK));
        const next = previous.then(async () => {
          const { fingerprints, sealed } = await prepared;
          stageChunk.immediate(at, fingerprints, sealed);
        });
        await previous;
        previous = next;
      }
      await previous;
      db.transaction(() => {
        db.prepare(
          `INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at)
           SELECT (SELECT no FROM products WHERE id = ?), fingerprint, sealed, 'available', ? FROM temp.limit_staging WHERE true
           ORDER BY fingerprint, line
           ON CONFLICT (product_no, fingerprint) DO NOTHING`,
        ).run(product.id, Date.now());
        db.exec('DROP TABLE temp.limit_staging');
      }).immediate();
      return (performance.now() - started) / 1000;
    } finally {
      crypto.close();
    }
  } finally {
    await engine.close();
  }
}

/** The import and the limit in turns, each round on fresh shops. */
async function runRounds(spec: Extract<ChildSpec, { kind: 'rounds' }>): Promise<RoundsResult> {
  const result: RoundsResult = { importSeconds: [], limitSeconds: [] };
  for (let r = 0; r < spec.rounds; r++) {
    const imported = await runImport({
      kind: 'import',
      dataDir: join(spec.dir, `import-${r}`),
      file: spec.file,
      codes: spec.codes,
    });
    if (imported.imported !== spec.codes) throw new Error(`import round ${r} stored ${imported.imported} of ${spec.codes}`);
    result.importSeconds.push(imported.seconds);
    result.limitSeconds.push(await limitLoop(join(spec.dir, `limit-${r}`), spec.codes));
  }
  return result;
}

function inChild<R>(spec: ChildSpec): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = fork(SELF, ['--import-child'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: R | null = null;
    child.once('message', (message) => (result = message as R));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`import bench child exited with ${code}`));
    });
    child.send(spec);
  });
}

export async function benchImport(opts: ImportBenchOptions): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-import-bench-'));
  try {
    const file = join(dir, 'codes.txt');
    await writeCodes(file, opts.codes);
    const result = await inChild<ChildResult>({ kind: 'import', dataDir: join(dir, 'shop'), file, codes: opts.codes });
    if (result.imported !== opts.codes || result.available !== opts.codes || !result.ledgerOk) {
      throw new Error(
        `the import bench stored ${result.imported} of ${opts.codes} codes (stock ${result.available}, ledger ok: ${result.ledgerOk})`,
      );
    }
    rmSync(join(dir, 'shop'), { recursive: true, force: true });
    const roundCodes = opts.roundCodes ?? Math.min(opts.codes, 250_000);
    const roundFile = join(dir, 'round.txt');
    await writeCodes(roundFile, roundCodes);
    const rounds = await inChild<RoundsResult>({
      kind: 'rounds',
      dir,
      file: roundFile,
      codes: roundCodes,
      rounds: opts.rounds ?? 3,
    });
    return {
      import_codes_per_s: Math.round(opts.codes / result.seconds),
      import_peak_rss_mb: Math.round(result.maxRssKb / 1024),
      // Rates: limit seconds over import seconds for the same codes.
      ...spread(
        'import_vs_limit',
        rounds.importSeconds.map((seconds, r) => rounds.limitSeconds[r]! / seconds),
      ),
      import_limit_codes_per_s: Math.round(roundCodes / median(rounds.limitSeconds)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--import-child')) {
  process.once('message', (spec) => {
    const task = spec as ChildSpec;
    (task.kind === 'import' ? runImport(task) : runRounds(task)).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
} else if (process.argv[1] === SELF) {
  benchImport({ codes: Number(process.argv[2] ?? 1_000_000) }).then(
    (result) => console.log(JSON.stringify(result)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
