/**
 * Reconciliation of a shop on PostgreSQL: a consistent snapshot of the tables the detectors read
 * (pg/snapshot-to-sqlite.ts: one REPEATABLE READ, READ ONLY transaction) into a private SQLite file in a
 * temporary folder, then run.ts over it unchanged. The detectors and the ledger's replay stay one
 * implementation, so a PostgreSQL shop reports what the same rows would report on SQLite.
 *
 * Payment statements are stored in PostgreSQL (service.ts importStatementPg, statements/store-pg.ts) and the
 * snapshot carries them and their rows, so a run compares against them as on SQLite: every stored one by
 * default, or `statementIds`. A run itself writes nothing. Resolving findings (the audited actions,
 * actions.ts) needs the SQLite backend for now.
 *
 * Most of a run is synchronous SQLite work (each batch's inserts, the snapshot's index builds, the
 * detectors): seconds on a big shop. `runReconcilePostgres` therefore runs a big shop's reconciliation in a
 * worker thread with a connection of its own (postgres-worker.ts), as service.ts does on SQLite, so a
 * `serve` process keeps answering buyers meanwhile; `reconcilePgShop` is that, as a PgShop's reconciler.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import type { ErrorCode } from '../../shared/errors';
import type { ReconcileReport } from '../../shared/reconcile';
import type { Reconciler } from '../engine/backend';
import { EngineError, isEngineError } from '../lib/errors';
import { firstMessage, startModuleWorker } from '../lib/module-worker';
import { isConnectionError } from '../pg/connect';
import type { PgShop } from '../pg/shop';
import { snapshotToSqlite } from '../pg/snapshot-to-sqlite';
import { TABLES_IN_ORDER, type ShopTable } from '../pg/tables';
import { reconcile, type ReconcileOptions } from './run';

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

/** As on SQLite; `statementIds` name statements stored in PostgreSQL (default: every stored one). */
export type PostgresReconcileOptions = ReconcileOptions;

export interface PostgresReconcileResult {
  readonly report: ReconcileReport;
  /** Rows read per table. */
  readonly rows: Readonly<Record<string, number>>;
}

/** One reconciliation of the PostgreSQL shop `pool` reaches; writes nothing there. */
export async function reconcilePostgres(pool: pg.Pool, options: PostgresReconcileOptions = {}): Promise<PostgresReconcileResult> {
  const now = options.now ?? Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-reconcile-'));
  try {
    const { db, rows } = await snapshotToSqlite(pool, {
      file: join(dir, 'snapshot.db'),
      tables: SNAPSHOT_TABLES,
      blank: { keys: ['sealed'] },
    });
    try {
      return { report: reconcile(db, { ...options, now }), rows };
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface PostgresRunOptions extends PostgresReconcileOptions {
  /** Run in a worker thread: 'auto' (the default) when the shop holds WORKER_MIN_ROWS ledger entries and keys or more. */
  readonly worker?: 'auto' | 'always' | 'never';
}

/** Below this many ledger entries and keys together, a snapshot and its run take well under a second. */
const WORKER_MIN_ROWS = 50_000;

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './postgres-worker.ts' : './postgres-worker.js', import.meta.url);

/** What a worker's failure carries back: the thread boundary keeps only plain data. */
export type PostgresFailure = { readonly code: ErrorCode | null; readonly message: string };

/** A failure as the caller should see it: an engine error keeps its code, a lost connection is `busy`. */
export function postgresFailure(error: unknown): PostgresFailure {
  if (isEngineError(error)) return { code: error.code, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  if (isConnectionError(error))
    return { code: 'busy', message: `the database connection was lost while reconciling (${message}); try again` };
  return { code: null, message };
}

function rethrow(failure: PostgresFailure): never {
  if (failure.code === null) throw new Error(`reconciliation failed: ${failure.message}`);
  throw new EngineError(failure.code, failure.message);
}

/** Ledger entries plus the keys the products count: what a snapshot copies, near enough, from two cheap reads. */
async function shopSize(pool: pg.Pool): Promise<number> {
  const row = await pool.query<{ n: string | number }>(
    `SELECT (SELECT coalesce(max(seq), 0) FROM ledger) + (SELECT coalesce(sum(available + reserved + sold), 0) FROM products) AS n`,
  );
  return Number(row.rows[0]?.n ?? 0);
}

/** reconcilePostgres; a big shop's in a worker thread with a connection of its own (the pool's URL), off the caller's event loop. */
export async function runReconcilePostgres(pool: pg.Pool, options: PostgresRunOptions = {}): Promise<PostgresReconcileResult> {
  const { worker = 'auto', ...rest } = options;
  const full: PostgresReconcileOptions = { ...rest, now: rest.now ?? Date.now() };
  try {
    if (worker === 'never' || (worker === 'auto' && (await shopSize(pool)) < WORKER_MIN_ROWS)) {
      return await reconcilePostgres(pool, full);
    }
  } catch (error) {
    if (isConnectionError(error)) rethrow(postgresFailure(error));
    throw error;
  }
  const url = pool.options.connectionString;
  if (url === undefined) throw new EngineError('internal_error', 'the pool has no connection string for a worker thread');
  const input: PostgresWorkerInput = { postgresReconcileWorker: true, url, options: full };
  const message = await firstMessage<PostgresWorkerMessage>(startModuleWorker(WORKER_URL, input), 'reconciliation');
  if (message.ok) return message.result;
  return rethrow(message);
}

export interface PostgresWorkerInput {
  readonly postgresReconcileWorker: true;
  readonly url: string;
  readonly options: PostgresReconcileOptions;
}

export type PostgresWorkerMessage =
  { readonly ok: true; readonly result: PostgresReconcileResult } | ({ readonly ok: false } & PostgresFailure);

/** A PgShop's reconciliation with its clock, as runReconcile takes options on SQLite (`statementIds` among them). */
export async function runReconcilePgShop(shop: PgShop, options: Omit<PostgresRunOptions, 'now'> = {}): Promise<ReconcileReport> {
  return (await runReconcilePostgres(shop.pool, { ...options, now: shop.clock() })).report;
}

/** A PgShop's reconciler (PgShopOptions.reconcile): the shop's clock, its pool, a worker when it is big. */
export const reconcilePgShop: Reconciler<PgShop> = (shop, options) => runReconcilePgShop(shop, options);
