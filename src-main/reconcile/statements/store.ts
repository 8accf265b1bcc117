/**
 * Storing a parsed statement: one transaction inserts the statement and its rows, leaving out rows
 * already imported (the same payment or refund id from an earlier or overlapping bill), and writes an
 * audit record. A statement with nothing new is refused and stores nothing.
 *
 * This is the SQLite version (the engine's writer); store-pg.ts is PostgreSQL's. What both decide
 * the same way is here as pure functions: a row's dedupe key, which rows are fresh and what is counted as
 * a duplicate, the refusal of a file with nothing new, the stored source name, the audit record, and a
 * stored statement's row as StatementInfo. The reads (listStatementsSql, getStatementSql) are one SQL
 * text each and run on either backend through db/sql.ts's SqlReader.
 */
import type { StatementInfo } from '../../../shared/reconcile';
import type { SqlReader } from '../../db/sql';
import { stmt } from '../../db/statements';
import type { ReadableDB, WritableDB } from '../../db/types';
import { EngineError } from '../../lib/errors';
import { writeAudit } from '../../db/audit';
import { iso } from '../finding';
import type { Parsed, ParsedRow } from './parse';

export interface StoreResult {
  /** null when every row was imported before and `nothingNew` was 'accept'. */
  readonly statement: StatementInfo | null;
  /** The statements (earlier ones and this one) holding this file's rows. */
  readonly existingIds: number[];
  readonly imported: number;
  readonly duplicates: number;
}

export interface StoreMeta {
  readonly source: string;
  readonly actor: string;
  readonly now: number;
  readonly nothingNew?: 'refuse' | 'accept';
}

/** A statement as both backends store it (`SELECT * FROM statements`). */
export interface StatementRowDb {
  id: number;
  format: string;
  source: string;
  rows: number;
  period_start: number | null;
  period_end: number | null;
  period_rule: string | null;
  imported_at: number;
}

export function toInfo(row: StatementRowDb): StatementInfo {
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

// ---------------------------------------------------------------- decisions both backends share

/** What makes two statement rows the same one: its kind and the provider's payment (or refund) id. */
export function rowKey(row: Pick<ParsedRow, 'kind' | 'paymentId'>): string {
  return `${row.kind}\u0000${row.paymentId}`;
}

/**
 * The rows to store: each key once (its first line in the file), and none that `seen` says is stored
 * already. Every other row of the file is counted as a duplicate.
 */
export function freshRows(parsed: Parsed, seen: (row: ParsedRow) => boolean): { fresh: ParsedRow[]; duplicates: number } {
  const inFile = new Set<string>();
  const fresh = parsed.rows.filter((r) => {
    const key = rowKey(r);
    if (inFile.has(key) || seen(r)) return false;
    inFile.add(key);
    return true;
  });
  return { fresh, duplicates: parsed.rows.length - fresh.length };
}

/** The refusal of a file whose every row was imported before (nothingNew: 'refuse'). */
export function nothingNewError(parsed: Parsed): EngineError {
  return new EngineError(
    'validation_failed',
    `every one of the ${parsed.rows.length} row(s) was imported before; nothing new to store`,
  );
}

/** The file name a statement is stored under. */
export function statementSource(source: string): string {
  return source.slice(0, 300) || 'statement.csv';
}

/** The audit record of an import, written in the import's transaction. */
export function importAudit(
  id: number,
  parsed: Parsed,
  source: string,
  counts: { imported: number; duplicates: number },
): { action: string; subject: string; detail: Record<string, unknown> } {
  return {
    action: 'reconcile.import_statement',
    subject: `statement:${id}`,
    detail: {
      format: parsed.format,
      source,
      rows: counts.imported,
      duplicates: counts.duplicates,
      skipped: parsed.skipped.length,
    },
  };
}

// ---------------------------------------------------------------- SQLite

/** Call inside one write transaction (the engine's writer). */
export function storeStatement(db: WritableDB, parsed: Parsed, meta: StoreMeta): StoreResult {
  const seen = stmt(db, 'SELECT 1 FROM statement_rows WHERE payment_id = ? AND kind = ? LIMIT 1').pluck();
  const { fresh, duplicates } = freshRows(parsed, (r) => seen.get(r.paymentId, r.kind) !== undefined);
  if (fresh.length === 0) {
    if (meta.nothingNew === 'accept') return { statement: null, imported: 0, duplicates, existingIds: existingIds(db, parsed) };
    throw nothingNewError(parsed);
  }
  const source = statementSource(meta.source);
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
  const audit = importAudit(id, parsed, source, { imported: fresh.length, duplicates });
  writeAudit(db, meta.now, meta.actor, audit.action, audit.subject, audit.detail);
  return { statement: getStatement(db, id)!, imported: fresh.length, duplicates, existingIds: existingIds(db, parsed) };
}

function existingIds(db: ReadableDB, parsed: Parsed): number[] {
  const find = stmt(db, 'SELECT DISTINCT statement_id FROM statement_rows WHERE payment_id = ? AND kind = ?').pluck();
  const ids = new Set<number>();
  for (const r of parsed.rows) for (const id of find.all(r.paymentId, r.kind) as number[]) ids.add(id);
  return [...ids].sort((a, b) => a - b);
}

// ---------------------------------------------------------------- reads, on either backend

const GET_SQL = 'SELECT * FROM statements WHERE id = ?';
const LIST_SQL = 'SELECT * FROM statements ORDER BY id DESC LIMIT 200';

export function getStatement(db: ReadableDB, id: number): StatementInfo | null {
  const row = stmt(db, GET_SQL).get(id) as StatementRowDb | undefined;
  return row ? toInfo(row) : null;
}

export function listStatements(db: ReadableDB): StatementInfo[] {
  return (stmt(db, LIST_SQL).all() as StatementRowDb[]).map(toInfo);
}

/** getStatement on either backend (ShopBackend.sql). */
export async function getStatementSql(sql: SqlReader, id: number): Promise<StatementInfo | null> {
  const row = await sql.get<StatementRowDb>(GET_SQL, [id]);
  return row ? toInfo(row) : null;
}

/** The newest 200 statements, newest first, on either backend (ShopBackend.sql). */
export async function listStatementsSql(sql: SqlReader): Promise<StatementInfo[]> {
  return (await sql.all<StatementRowDb>(LIST_SQL)).map(toInfo);
}
