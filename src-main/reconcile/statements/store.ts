/**
 * Storing a parsed statement: one transaction inserts the statement and its rows, leaving out rows
 * already imported (the same payment or refund id from an earlier or overlapping bill), and writes an
 * audit record. A statement with nothing new is refused and stores nothing.
 */
import type { StatementInfo } from '../../../shared/reconcile';
import { stmt } from '../../db/statements';
import type { ReadableDB, WritableDB } from '../../db/types';
import { EngineError } from '../../lib/errors';
import { writeAudit } from '../../db/audit';
import { iso } from '../finding';
import type { Parsed } from './parse';

export interface StoreResult {
  /** null when every row was imported before and `nothingNew` was 'accept'. */
  readonly statement: StatementInfo | null;
  /** The statements (earlier ones and this one) holding this file's rows. */
  readonly existingIds: number[];
  readonly imported: number;
  readonly duplicates: number;
}

interface StatementRowDb {
  id: number;
  format: string;
  source: string;
  rows: number;
  period_start: number | null;
  period_end: number | null;
  period_rule: string | null;
  imported_at: number;
}

function toInfo(row: StatementRowDb): StatementInfo {
  return {
    id: row.id,
    format: row.format,
    source: row.source,
    rows: row.rows,
    periodStart: iso(row.period_start),
    periodEnd: iso(row.period_end),
    periodRule: row.period_rule as StatementInfo['periodRule'],
    importedAt: iso(row.imported_at)!,
  };
}

/** Call inside one write transaction (the engine's writer). */
export function storeStatement(
  db: WritableDB,
  parsed: Parsed,
  meta: { source: string; actor: string; now: number; nothingNew?: 'refuse' | 'accept' },
): StoreResult {
  const seen = stmt(db, 'SELECT 1 FROM statement_rows WHERE payment_id = ? AND kind = ? LIMIT 1').pluck();
  const inFile = new Set<string>();
  const fresh = parsed.rows.filter((r) => {
    const key = `${r.kind}\u0000${r.paymentId}`;
    if (inFile.has(key) || seen.get(r.paymentId, r.kind) !== undefined) return false;
    inFile.add(key);
    return true;
  });
  const duplicates = parsed.rows.length - fresh.length;
  if (fresh.length === 0) {
    if (meta.nothingNew === 'accept') return { statement: null, imported: 0, duplicates, existingIds: existingIds(db, parsed) };
    throw new EngineError(
      'validation_failed',
      `every one of the ${parsed.rows.length} row(s) was imported before; nothing new to store`,
    );
  }
  const source = meta.source.slice(0, 300) || 'statement.csv';
  const id = Number(
    stmt(
      db,
      `INSERT INTO statements (format, source, rows, period_start, period_end, period_rule, imported_at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(parsed.format, source, fresh.length, parsed.periodStart, parsed.periodEnd, parsed.periodRule, meta.now, meta.actor)
      .lastInsertRowid,
  );
  const insert = stmt(
    db,
    `INSERT INTO statement_rows (statement_id, line, payment_id, ref_payment_id, order_id, kind, amount, currency, at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (const r of fresh) insert.run(id, r.line, r.paymentId, r.refPaymentId, r.orderId, r.kind, r.amount, r.currency, r.at);
  writeAudit(db, meta.now, meta.actor, 'reconcile.import_statement', `statement:${id}`, {
    format: parsed.format,
    source,
    rows: fresh.length,
    duplicates,
    skipped: parsed.skipped.length,
  });
  return { statement: getStatement(db, id)!, imported: fresh.length, duplicates, existingIds: existingIds(db, parsed) };
}

function existingIds(db: ReadableDB, parsed: Parsed): number[] {
  const find = stmt(db, 'SELECT DISTINCT statement_id FROM statement_rows WHERE payment_id = ? AND kind = ?').pluck();
  const ids = new Set<number>();
  for (const r of parsed.rows) for (const id of find.all(r.paymentId, r.kind) as number[]) ids.add(id);
  return [...ids].sort((a, b) => a - b);
}

export function getStatement(db: ReadableDB, id: number): StatementInfo | null {
  const row = stmt(db, 'SELECT * FROM statements WHERE id = ?').get(id) as StatementRowDb | undefined;
  return row ? toInfo(row) : null;
}

export function listStatements(db: ReadableDB): StatementInfo[] {
  return (stmt(db, 'SELECT * FROM statements ORDER BY id DESC LIMIT 200').all() as StatementRowDb[]).map(toInfo);
}
