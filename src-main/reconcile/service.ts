/**
 * Reconciliation as the engine's callers use it (RPC handlers, CLI, scheduler): run a reconciliation,
 * import a statement, act on findings. Writes go through the engine's group-commit writer (one IMMEDIATE
 * transaction each); live pages hear about them through engine.events after the commit.
 *
 * A statement is imported on PostgreSQL too (importStatementPg: the same parse, statements/store-pg.ts's store
 * in one transaction of the shop's), and a PostgreSQL shop's reconciliation compares against it
 * (postgres.ts).
 */
import type { ActionResult, ColumnMapping, ReconcileReport, StatementFormat } from '../../shared/reconcile';
import { firstMessage, startModuleWorker } from '../lib/module-worker';
import { stmt } from '../db/statements';
import type { Engine } from '../engine/engine';
import type { PgShop } from '../pg/shop';
import { storeStatementPg } from './statements/store-pg';
import { performActions, type ActionInput } from './actions';
import type { ReconcileWorkerInput, ReconcileWorkerMessage } from './reconcile-worker';
import { reconcile, type ReconcileOptions } from './run';
import { parseStatement, type Parsed } from './statements/parse';
import { storeStatement, type StoreResult } from './statements/store';

export interface RunOptions extends Omit<ReconcileOptions, 'now'> {
  /** Run in a worker thread: 'auto' (the default) when the shop's ledger holds WORKER_MIN_ENTRIES or more. */
  readonly worker?: 'auto' | 'always' | 'never';
}

/** Below this many ledger entries a run takes well under a second, less than starting a thread. */
const WORKER_MIN_ENTRIES = 50_000;

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './reconcile-worker.ts' : './reconcile-worker.js', import.meta.url);

/** One reconciliation of the engine's shop; a big one runs in a worker thread, off the endpoint's event loop. */
export async function runReconcile(engine: Engine, options: RunOptions = {}): Promise<ReconcileReport> {
  const { worker = 'auto', ...rest } = options;
  const full: ReconcileOptions = { ...rest, now: engine.clock() };
  const db = engine.db;
  const useWorker =
    worker === 'always' ||
    (worker === 'auto' &&
      !db.memory &&
      (stmt(db, 'SELECT coalesce(max(seq), 0) FROM ledger').pluck().get() as number) >= WORKER_MIN_ENTRIES);
  if (!useWorker) return reconcile(db, full);
  const input: ReconcileWorkerInput = { reconcileWorker: true, file: db.name, options: full };
  const message = await firstMessage<ReconcileWorkerMessage>(startModuleWorker(WORKER_URL, input), 'reconciliation');
  if (message.ok) return message.report;
  throw new Error(`reconciliation failed: ${message.message}`);
}

export interface ImportStatementInput {
  readonly bytes: Uint8Array;
  readonly fileName: string;
  readonly format?: StatementFormat | undefined;
  readonly mapping?: ColumnMapping | undefined;
  readonly timeZone?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly actor: string;
  /** 'accept': a file whose rows were all imported before is not an error (the CLI re-runs). */
  readonly nothingNew?: 'refuse' | 'accept';
}

export interface ImportStatementResult extends StoreResult {
  readonly skipped: { line: number; reason: string }[];
  readonly encoding: string;
  /** The time zone the period's whole days were counted in. */
  readonly timeZone: string;
}

/** A statement file parsed as `input` says (its format or column mapping, time zone, period). */
export function parseStatementInput(input: Omit<ImportStatementInput, 'actor' | 'nothingNew'>): Parsed {
  return parseStatement(input.bytes, {
    ...(input.format ? { format: input.format } : {}),
    ...(input.mapping ? { mapping: input.mapping } : {}),
    timeZone: input.timeZone,
    from: input.from,
    to: input.to,
  });
}

const storeMeta = (input: ImportStatementInput, now: number) => ({
  source: input.fileName,
  actor: input.actor,
  now,
  nothingNew: input.nothingNew ?? 'refuse',
});

const withParse = (stored: StoreResult, parsed: Parsed): ImportStatementResult => ({
  ...stored,
  skipped: parsed.skipped,
  encoding: parsed.encoding,
  timeZone: parsed.timeZone,
});

/** Parses outside the write lock, then stores in one transaction. */
export async function importStatement(engine: Engine, input: ImportStatementInput): Promise<ImportStatementResult> {
  const parsed = parseStatementInput(input);
  const stored = await engine.writer.run((db, now) => storeStatement(db, parsed, storeMeta(input, now)));
  return withParse(stored, parsed);
}

/**
 * importStatement on PostgreSQL: parsed before the transaction, stored in one (`shop.write`: the PgShop's,
 * or a one-off command's). Safe to run again after a lost connection: a second attempt after a first
 * that committed stores nothing (every row is then a duplicate).
 */
export async function importStatementPg(
  shop: Pick<PgShop, 'write'>,
  input: ImportStatementInput,
): Promise<ImportStatementResult> {
  const parsed = parseStatementInput(input);
  const stored = await shop.write((client, now) => storeStatementPg(client, parsed, storeMeta(input, now)), true);
  return withParse(stored, parsed);
}

export async function runActions(engine: Engine, actor: string, input: ActionInput): Promise<ActionResult> {
  const result = await engine.writer.run((db, now) => performActions(db, { now }, actor, input));
  if (!result.preview) {
    const products = new Set<string>();
    for (const outcome of result.outcomes) {
      if (outcome.orderId === null) continue;
      const order = engine.getOrder(outcome.orderId);
      if (!order) continue;
      products.add(order.productId);
      engine.events.emit({ type: 'order', orderId: order.id, productId: order.productId, status: order.status });
    }
    for (const productId of products) engine.events.emit({ type: 'stock', productId });
  }
  return result;
}
