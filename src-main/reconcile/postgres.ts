/**
 * Reconciliation of a shop on PostgreSQL: a consistent snapshot of the tables the detectors read
 * (pg/snapshot-to-sqlite.ts: one REPEATABLE READ, READ ONLY transaction) into a private SQLite file in a
 * temporary folder, then run.ts over it unchanged. The detectors and the ledger's replay stay one
 * implementation, so a PostgreSQL shop reports what the same rows would report on SQLite.
 *
 * A payment statement is parsed and stored in the snapshot only and compared there: statements are not
 * stored on PostgreSQL yet, so nothing is written to the shop's database. Resolving findings (the audited
 * actions, actions.ts) needs the SQLite backend for now.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { ReconcileReport } from '../../shared/reconcile';
import { snapshotToSqlite } from '../pg/snapshot-to-sqlite';
import { TABLES_IN_ORDER, type ShopTable } from '../pg/tables';
import { reconcile, type ReconcileOptions } from './run';
import { parseStatementInput, type ImportStatementInput, type ImportStatementResult } from './service';
import { storeStatement } from './statements/store';

/** What the detectors, the ledger's replay and the resolutions read: the rest of the shop stays out of the snapshot. */
const READ: ReadonlySet<ShopTable> = new Set<ShopTable>([
  'products',
  'orders',
  'keys',
  'deliveries',
  'ledger',
  'payments',
  'payment_links',
  'finding_resolutions',
  'statements',
  'statement_rows',
]);

/** The tables a reconciliation's snapshot holds, parents first. */
export const SNAPSHOT_TABLES: readonly ShopTable[] = TABLES_IN_ORDER.filter((t) => READ.has(t));

export interface PostgresReconcileOptions extends Omit<ReconcileOptions, 'statementIds'> {
  /** A bill to compare against (with the statements already in the database that hold its rows). */
  readonly statement?: Omit<ImportStatementInput, 'actor' | 'nothingNew'>;
  /** Who compares it (the snapshot's audit record). */
  readonly actor?: string;
}

export interface PostgresReconcileResult {
  readonly report: ReconcileReport;
  /** The bill as stored in the snapshot (not in PostgreSQL), when one was given. */
  readonly statement: ImportStatementResult | null;
  /** Rows read per table. */
  readonly rows: Readonly<Record<string, number>>;
}

/** One reconciliation of the PostgreSQL shop `pool` reaches; writes nothing there. */
export async function reconcilePostgres(pool: pg.Pool, options: PostgresReconcileOptions = {}): Promise<PostgresReconcileResult> {
  const { statement, actor = 'cli', ...rest } = options;
  const now = rest.now ?? Date.now();
  // Parsed before the snapshot: a bill that does not parse costs no copy.
  const parsed = statement === undefined ? null : parseStatementInput(statement);
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-reconcile-'));
  try {
    const { db, rows } = await snapshotToSqlite(pool, {
      file: join(dir, 'snapshot.db'),
      tables: SNAPSHOT_TABLES,
      blank: { keys: ['sealed'] },
    });
    try {
      let stored: ImportStatementResult | null = null;
      if (parsed !== null && statement !== undefined) {
        const result = db.transaction(() =>
          storeStatement(db, parsed, { source: statement.fileName, actor, now, nothingNew: 'accept' }),
        )();
        stored = { ...result, skipped: parsed.skipped, encoding: parsed.encoding, timeZone: parsed.timeZone };
      }
      const report = reconcile(db, { ...rest, now, ...(stored ? { statementIds: stored.existingIds } : {}) });
      return { report, statement: stored, rows };
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
