/**
 * Storing a parsed payment statement on PostgreSQL: reconcile/statements/store.ts's storeStatement in one
 * transaction on a client (PgShop.write's, or a one-off command's), with the same tables, the same
 * decisions (store.ts's pure functions: a row's dedupe key, what is fresh and what a duplicate, the
 * refusal of a file with nothing new, the audit record) and the same result.
 *
 * Two servers importing the same bill at once must store each row once. The schema has no unique
 * constraint on a statement row's (payment_id, kind) on either backend (SQLite's single writer never
 * needed one), so an import first takes `statement_rows` in SHARE ROW EXCLUSIVE mode: it conflicts with
 * itself and with every insert, not with reads (a reconciliation's snapshot goes on meanwhile). Imports
 * therefore run one after the other, and each one's statements (READ COMMITTED) see what the one before
 * committed. Taken first, before anything else, the lock cannot deadlock with another import.
 */
import { EngineError } from '../../lib/errors';
import type { Parsed, ParsedRow } from './parse';
import {
  freshRows,
  importAudit,
  nothingNewError,
  rowKey,
  statementSource,
  toInfo,
  type StatementRowDb,
  type StoreMeta,
  type StoreResult,
} from './store';
import type { Queryable } from '../../pg/connect';
import { writeAuditPg } from '../../pg/order-writes';

/** Rows per statement: a bill of 100,000 rows is 10 round trips, each a few MB at most. */
const BATCH = 10_000;

function* batches<T>(items: readonly T[]): Generator<T[]> {
  for (let from = 0; from < items.length; from += BATCH) yield items.slice(from, from + BATCH);
}

/** PostgreSQL's text holds no NUL: a row with one is refused by its line, as a malformed row is (parse.ts). */
function checkStorable(rows: readonly ParsedRow[], source: string): void {
  if (source.includes('\0')) throw new EngineError('validation_failed', 'the file name holds a NUL character');
  for (const r of rows) {
    for (const value of [r.paymentId, r.refPaymentId, r.orderId, r.currency]) {
      if (value?.includes('\0')) {
        throw new EngineError('validation_failed', `line ${r.line}: holds a NUL character; nothing was imported`);
      }
    }
  }
}

/**
 * What statement_rows holds already of `rows`: their keys (store.ts rowKey) and the statements holding
 * them. Under the import's lock nothing changes it until the import commits.
 */
async function storedBefore(client: Queryable, rows: readonly ParsedRow[]): Promise<{ keys: Set<string>; ids: Set<number> }> {
  const keys = new Set<string>();
  const ids = new Set<number>();
  for (const batch of batches(rows)) {
    const found = await client.query<{ kind: 'payment' | 'refund'; payment_id: string; statement_id: number }>(
      `SELECT DISTINCT s.kind, s.payment_id, s.statement_id FROM statement_rows s
         JOIN unnest($1::text[], $2::text[]) AS f(payment_id, kind) ON s.payment_id = f.payment_id AND s.kind = f.kind`,
      [batch.map((r) => r.paymentId), batch.map((r) => r.kind)],
    );
    for (const row of found.rows) {
      keys.add(rowKey({ kind: row.kind, paymentId: row.payment_id }));
      ids.add(Number(row.statement_id));
    }
  }
  return { keys, ids };
}

const sorted = (ids: Iterable<number>): number[] => [...ids].sort((a, b) => a - b);

/** Call inside one write transaction (PgShop.write, or inTransaction for a one-off command). */
export async function storeStatementPg(client: Queryable, parsed: Parsed, meta: StoreMeta): Promise<StoreResult> {
  checkStorable(parsed.rows, meta.source);
  await client.query('LOCK TABLE statement_rows IN SHARE ROW EXCLUSIVE MODE');
  const before = await storedBefore(client, parsed.rows);
  const { fresh, duplicates } = freshRows(parsed, (r) => before.keys.has(rowKey(r)));
  if (fresh.length === 0) {
    if (meta.nothingNew === 'accept') return { statement: null, imported: 0, duplicates, existingIds: sorted(before.ids) };
    throw nothingNewError(parsed);
  }
  const source = statementSource(meta.source);
  const inserted = await client.query<StatementRowDb>(
    `INSERT INTO statements (format, source, rows, period_start, period_end, period_rule, imported_at, actor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [parsed.format, source, fresh.length, parsed.periodStart, parsed.periodEnd, parsed.periodRule, meta.now, meta.actor],
  );
  const row = inserted.rows[0]!;
  const id = Number(row.id);
  // In the file's order, as SQLite inserts them (a row's id follows its line).
  for (const batch of batches(fresh)) {
    await client.query(
      `INSERT INTO statement_rows (statement_id, line, payment_id, ref_payment_id, order_id, kind, amount, currency, at)
       SELECT $1, line, payment_id, ref_payment_id, order_id, kind, amount, currency, at
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[], $9::bigint[])
              WITH ORDINALITY AS f(line, payment_id, ref_payment_id, order_id, kind, amount, currency, at, n)
        ORDER BY n`,
      [
        id,
        batch.map((r) => r.line),
        batch.map((r) => r.paymentId),
        batch.map((r) => r.refPaymentId),
        batch.map((r) => r.orderId),
        batch.map((r) => r.kind),
        batch.map((r) => r.amount),
        batch.map((r) => r.currency),
        batch.map((r) => r.at),
      ],
    );
  }
  const audit = importAudit(id, parsed, source, { imported: fresh.length, duplicates });
  await writeAuditPg(client, meta.now, meta.actor, audit.action, audit.subject, audit.detail);
  // The statements holding the file's rows: those holding its duplicates, and this one.
  return { statement: toInfo(row), imported: fresh.length, duplicates, existingIds: sorted([...before.ids, id]) };
}
