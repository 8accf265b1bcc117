/**
 * Import benchmark: a `.txt` file of N distinct codes is written to a temporary folder, then imported
 * (streamed, fingerprinted, sealed, staged in chunks, committed in one transaction with its ledger
 * entry) by a CHILD process, so the peak RSS is the import's own (`process.resourceUsage().maxRSS`,
 * read in the child) and not the generator's. The child also checks the result: every code stored,
 * stock counter right, ledger verified.
 *
 * `benchImport({codes})` returns `import_codes_per_s` and `import_peak_rss_mb`;
 * `node --import tsx bench/import-bench.ts [codes]` prints them.
 */
import { fork } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src-main/engine/engine';

export interface ImportBenchResult {
  import_codes_per_s: number;
  import_peak_rss_mb: number;
}

interface ChildSpec {
  readonly dataDir: string;
  readonly file: string;
  readonly codes: number;
}

interface ChildResult {
  readonly seconds: number;
  readonly maxRssKb: number;
  readonly imported: number;
  readonly ledgerOk: boolean;
  readonly available: number;
}

const SELF = fileURLToPath(import.meta.url);

/** Writes N distinct gift-card-like codes (24 characters), one per line, without holding them all. */
async function writeCodes(file: string, codes: number): Promise<void> {
  const out = createWriteStream(file);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
  });
  const perChunk = 10_000;
  for (let start = 0; start < codes; start += perChunk) {
    let text = '';
    for (let i = start; i < Math.min(codes, start + perChunk); i++) {
      const n = (i * 2654435761) % 4294967296;
      text += `GC-${n.toString(36).toUpperCase().padStart(7, '0')}-${i.toString(36).toUpperCase().padStart(8, '0')}-X\n`;
    }
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  out.end();
  await done;
}

async function runChild(spec: ChildSpec): Promise<ChildResult> {
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

function inChild(spec: ChildSpec): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(SELF, ['--import-child'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ChildResult | null = null;
    child.once('message', (message) => (result = message as ChildResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`import bench child exited with ${code}`));
    });
    child.send(spec);
  });
}

export async function benchImport(opts: { codes: number }): Promise<ImportBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-import-bench-'));
  try {
    const file = join(dir, 'codes.txt');
    await writeCodes(file, opts.codes);
    const result = await inChild({ dataDir: join(dir, 'shop'), file, codes: opts.codes });
    if (result.imported !== opts.codes || result.available !== opts.codes || !result.ledgerOk) {
      throw new Error(
        `the import bench stored ${result.imported} of ${opts.codes} codes (stock ${result.available}, ledger ok: ${result.ledgerOk})`,
      );
    }
    return {
      import_codes_per_s: Math.round(opts.codes / result.seconds),
      import_peak_rss_mb: Math.round(result.maxRssKb / 1024),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--import-child')) {
  process.once('message', (spec) => {
    runChild(spec as ChildSpec).then(
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
