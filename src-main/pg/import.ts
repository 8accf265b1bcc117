/**
 * Importing codes into a PostgreSQL shop: the same pipeline as on SQLite (vault/import.ts reads, decodes,
 * checks, fingerprints and seals; the report is built there), with this session underneath. The whole
 * import is ONE transaction on a connection of its own: the import's `imports` row, a TEMP staging table
 * (dropped at the transaction's end) filled a chunk per multi-row statement, then, at the commit, the
 * copy into `keys` (in fingerprint order, a code the product already holds skipped by its UNIQUE
 * (product_no, fingerprint), the same fingerprint column SQLite's vault uses), the product's counter, the
 * import marked committed and the ledger entry (appended last, under the ledger's advisory lock). A
 * preview, a rejected import, a failure or a cancel ends in ROLLBACK, and a process that dies mid-import
 * takes its transaction with it: nothing of it was ever visible, nothing is stored.
 *
 * Duplicates are counted by the database, never by a set in memory: a window over the staged rows by
 * fingerprint (a repeat inside the file) joined with the vault's keys (a code it already holds), with the
 * same rule as SQLite's `classifyStaged`, so both backends report the same counts and lines.
 */
import type pg from 'pg';
import { KeyIdRuns } from '../engine/ledger';
import { EngineError } from '../lib/errors';
import {
  runImportSession,
  type CodeSource,
  type CommitCounts,
  type Committed,
  type Duplicates,
  type ImportContext,
  type ImportOptions,
  type ImportOrigin,
  type ImportReport,
  type ImportSession,
  type StagedDuplicates,
} from '../vault/import';
import { isConnectionError } from './connect';
import { appendLedger } from './ledger';

const STAGING = 'pg_temp.import_staging';
const NONE: Duplicates = { count: 0, lines: [] };

export interface PgImportContext extends ImportContext {
  readonly clock: () => number;
}

/** Reads, checks and (unless `dryRun`) stores codes for a product: every accepted code, or none. */
export function importPg(
  pool: pg.Pool,
  context: PgImportContext,
  productId: string,
  source: CodeSource,
  options: ImportOptions = {},
): Promise<ImportReport> {
  return runImportSession(context, new PgImportSession(pool, context.clock, productId), productId, source, options);
}

class PgImportSession implements ImportSession {
  private client: pg.PoolClient | null = null;
  /** Set when the connection failed: it must not go back to the pool. */
  private broken: Error | undefined;
  private readonly onError = (error: Error): void => {
    this.broken ??= error;
  };
  /** The session's queries, one after another (a discard waits for a chunk still being staged). */
  private tail: Promise<unknown> = Promise.resolve();
  private productNo = 0;
  private importId = 0;
  private staged = 0;
  private committing = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: () => number,
    private readonly productId: string,
  ) {}

  /** Runs `fn` on the session's connection after whatever runs before it; refuses once the session ended. */
  private run<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const next = this.tail
      .then(() => {
        if (!this.client) throw new Error('the import has ended');
        return fn(this.client);
      })
      .catch((error: unknown) => {
        if (!isConnectionError(error)) throw error;
        // Before COMMIT the server rolls the transaction back with the connection; during it, nobody
        // knows. Running the import again is safe either way: codes it stored count as in the vault.
        const when = this.committing ? 'while committing: whether the codes were stored is unknown' : 'nothing was stored';
        throw new EngineError('busy', `the database connection was lost during the import, ${when}; run it again`);
      });
    this.tail = next.catch(() => undefined);
    return next;
  }

  async begin(origin: ImportOrigin): Promise<number> {
    const client = await this.pool.connect();
    client.on('error', this.onError);
    this.client = client;
    return this.run(async () => {
      await client.query('BEGIN');
      // PostgreSQL's text holds no NUL: no product has such an id.
      const product = this.productId.includes('\0')
        ? undefined
        : (await client.query<{ no: number }>('SELECT no FROM products WHERE id = $1', [this.productId])).rows[0];
      if (!product) throw new EngineError('product_not_found', `no product ${this.productId}`);
      this.productNo = product.no;
      // A preview is rolled back whole: it takes no import id (SQLite forgets its preview's row, and so
      // gives the next import the same id as here).
      if (origin.preview !== true) {
        const inserted = await client.query<{ id: number }>(
          `INSERT INTO imports (product_id, state, source, created_at, updated_at) VALUES ($1, 'staging', $2, $3, $3) RETURNING id`,
          [this.productId, JSON.stringify(origin), this.clock()],
        );
        this.importId = inserted.rows[0]!.id;
      }
      await client.query(
        `CREATE TEMP TABLE import_staging (line INTEGER NOT NULL, fingerprint BYTEA NOT NULL, sealed BYTEA NOT NULL) ON COMMIT DROP`,
      );
      return this.importId;
    });
  }

  stage(fingerprints: readonly Uint8Array[], sealed: readonly Uint8Array[], lines: readonly number[]): Promise<number> {
    return this.run(async (client) => {
      // One statement a chunk: three arrays, however many rows (no limit on bind parameters to meet).
      await client.query(
        `INSERT INTO ${STAGING} (line, fingerprint, sealed) SELECT * FROM unnest($1::int[], $2::bytea[], $3::bytea[])`,
        [lines, fingerprints, sealed],
      );
      this.staged += fingerprints.length;
      return fingerprints.length;
    });
  }

  classify(keep: number): Promise<StagedDuplicates> {
    return this.run((client) => this.classifyOn(client, keep));
  }

  /**
   * SQLite's rule (import-store.ts `classifyStaged`): a line whose code the vault holds from another
   * import is "in the vault"; of the other lines of one code, the first is the one stored and the rest
   * are repeats. The line numbers kept are the smallest `keep` of each kind.
   */
  private async classifyOn(client: pg.PoolClient, keep: number): Promise<StagedDuplicates> {
    const rows = await client.query<{ kind: 'vault' | 'batch'; count: number; lines: number[] }>(
      `SELECT kind, count(*)::bigint AS count, (array_agg(line ORDER BY line))[1:$3] AS lines FROM (
         SELECT s.line, CASE
           WHEN k.id IS NOT NULL AND k.import_id IS DISTINCT FROM $2 THEN 'vault'
           WHEN row_number() OVER (PARTITION BY s.fingerprint ORDER BY s.line) > 1 THEN 'batch'
         END AS kind
         FROM ${STAGING} s LEFT JOIN keys k ON k.product_no = $1 AND k.fingerprint = s.fingerprint
       ) c WHERE kind IS NOT NULL GROUP BY kind`,
      [this.productNo, this.importId, keep],
    );
    const of = (kind: 'vault' | 'batch'): Duplicates => {
      const row = rows.rows.find((r) => r.kind === kind);
      return row ? { count: row.count, lines: row.lines } : NONE;
    };
    return { inBatch: of('batch'), inVault: of('vault') };
  }

  commit(counts: CommitCounts): Promise<Committed> {
    return this.run(async (client) => {
      const now = this.clock();
      await client.query(`ANALYZE ${STAGING}`);
      const imported =
        (
          await client.query(
            `INSERT INTO keys (product_no, import_id, fingerprint, sealed, status, updated_at)
             SELECT $1, $2, fingerprint, sealed, 'available', $3 FROM ${STAGING} ORDER BY fingerprint, line
             ON CONFLICT (product_no, fingerprint) DO NOTHING`,
            [this.productNo, this.importId, now],
          )
        ).rowCount ?? 0;
      // Only when a code clashed is there anything to sort out.
      const found = this.staged > imported ? await this.classifyOn(client, counts.keep) : { inBatch: NONE, inVault: NONE };
      if (imported === 0) return { imported, ...found }; // nothing new: the pipeline refuses it and rolls back
      // The new keys' ids as runs (one, unless another import's keys interleave), never one row per key.
      const runs = await client.query<{ first: number; last: number }>(
        `SELECT min(id) AS first, max(id) AS last
         FROM (SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM keys WHERE product_no = $1 AND import_id = $2) r
         GROUP BY run ORDER BY first`,
        [this.productNo, this.importId],
      );
      const ids = new KeyIdRuns();
      for (const run of runs.rows) for (let id = run.first; id <= run.last; id++) ids.add(id);
      const duplicates = found.inBatch.count + found.inVault.count;
      await client.query('UPDATE products SET available = available + $2 WHERE id = $1', [this.productId, imported]);
      await client.query(
        `UPDATE imports SET state = 'committed', accepted = $2, duplicates = $3, rejected = $4, staged = $5, updated_at = $6
         WHERE id = $1`,
        [this.importId, imported, duplicates, counts.rejected, this.staged, now],
      );
      // As on SQLite (engine/stock-import.ts): one entry naming every new key, appended last.
      await appendLedger(client, [
        {
          kind: 'import',
          at: now,
          productId: this.productId,
          keyIds: ids,
          keysTo: 'available',
          detail: { importId: this.importId, accepted: imported, duplicates, rejected: counts.rejected, source: counts.source },
        },
      ]);
      this.committing = true;
      await client.query('COMMIT');
      this.release();
      return { imported, ...found };
    });
  }

  /** Rolls the whole import back (a preview ends here too), and lets go of the connection. */
  async discard(): Promise<void> {
    await this.run(async (client) => {
      try {
        await client.query('ROLLBACK');
      } catch (error) {
        this.broken ??= error instanceof Error ? error : new Error(String(error));
      }
      this.release();
    }).catch(() => undefined);
  }

  async end(): Promise<void> {
    await this.discard();
  }

  private release(): void {
    const client = this.client;
    if (!client) return;
    this.client = null;
    client.off('error', this.onError);
    // A broken connection is destroyed rather than pooled; the server rolls its open transaction back.
    client.release(this.broken);
  }
}
