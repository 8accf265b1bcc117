/**
 * Reconciliation as the engine's callers use it (RPC handlers, CLI, scheduler): run a reconciliation,
 * import a statement, act on findings. Writes go through the engine's group-commit writer (one IMMEDIATE
 * transaction each); live pages hear about them through engine.events after the commit.
 */
import type { ActionResult, ColumnMapping, StatementFormat } from '../../shared/reconcile';
import type { Engine } from '../engine/engine';
import { performActions, type ActionInput } from './actions';
import { reconcile, type ReconcileOptions } from './run';
import { parseStatement } from './statements/parse';
import { storeStatement, type StoreResult } from './statements/store';

export function runReconcile(engine: Engine, options: Omit<ReconcileOptions, 'now'> = {}) {
  return reconcile(engine.db, { ...options, now: engine.clock() });
}

export interface ImportStatementInput {
  readonly bytes: Uint8Array;
  readonly fileName: string;
  readonly format?: StatementFormat | undefined;
  readonly mapping?: ColumnMapping | undefined;
  readonly actor: string;
  /** 'accept': a file whose rows were all imported before is not an error (the CLI re-runs). */
  readonly nothingNew?: 'refuse' | 'accept';
}

export interface ImportStatementResult extends StoreResult {
  readonly skipped: { line: number; reason: string }[];
  readonly encoding: string;
}

/** Parses outside the write lock, then stores in one transaction. */
export async function importStatement(engine: Engine, input: ImportStatementInput): Promise<ImportStatementResult> {
  const parsed = parseStatement(input.bytes, {
    ...(input.format ? { format: input.format } : {}),
    ...(input.mapping ? { mapping: input.mapping } : {}),
  });
  const stored = await engine.writer.run((db, now) =>
    storeStatement(db, parsed, { source: input.fileName, actor: input.actor, now, nothingNew: input.nothingNew ?? 'refuse' }),
  );
  return { ...stored, skipped: parsed.skipped, encoding: parsed.encoding };
}

export async function runActions(engine: Engine, actor: string, input: ActionInput): Promise<ActionResult> {
  const result = await engine.writer.run((db, now) => performActions(db, { vault: engine.vault, now }, actor, input));
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
