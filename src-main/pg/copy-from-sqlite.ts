/**
 * Moving a shop from its SQLite file to PostgreSQL without re-importing anything: every table's rows as
 * they are (codes stay sealed under the same vault key, ids stay the ids the ledger names), in one
 * PostgreSQL transaction that commits only if the copy checks out: the same number of rows in every
 * table, the ledger's chain intact and replaying to the copied keys and orders, and the same head hash
 * as the source. The source must verify first (a tampered ledger is not carried over), and the target
 * must hold no shop yet. The source is read in one snapshot, so a shop still selling is copied as it was
 * at one instant (stop its servers first if no sale may be left behind).
 */
import type pg from 'pg';
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { verifyLedger } from '../engine/ledger-verify';
import { EngineError } from '../lib/errors';
import { inTransaction, type Queryable } from './connect';
import { verifyLedgerIn } from './ledger';
import { migratePostgres } from './migrate';
import { columnsOf, TABLES_IN_ORDER } from './tables';

export interface CopyReport {
  readonly rows: Readonly<Record<string, number>>;
  readonly ledgerEntries: number;
  readonly ledgerHead: string | null;
}

const CHUNK = 5000;

/** Copies one table in chunks: one multi-row INSERT ... SELECT FROM unnest(arrays) per chunk. */
async function copyTable(source: ReadableDB, client: Queryable, table: string): Promise<number> {
  const columns = await columnsOf(client, table);
  const names = columns.map((c) => c.name);
  const unnest = columns.map((c, i) => `$${i + 1}::${c.type}[]`).join(', ');
  const insert = `INSERT INTO ${table} (${names.join(', ')}) OVERRIDING SYSTEM VALUE SELECT * FROM unnest(${unnest})`;
  // Pages by rowid, so a million keys never sit in memory at once (the caller holds one read snapshot).
  const page = stmt(
    source,
    `SELECT rowid, ${names.join(', ')} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ${CHUNK}`,
  ).raw();
  let copied = 0;
  for (let last = -Infinity; ;) {
    const rows = page.all(last) as unknown[][];
    if (rows.length === 0) break;
    const arrays: unknown[][] = columns.map(() => []);
    for (const row of rows) for (let i = 0; i < columns.length; i++) arrays[i]!.push(row[i + 1]);
    await client.query(insert, arrays);
    copied += rows.length;
    last = rows[rows.length - 1]![0] as number;
  }
  for (const column of columns.filter((c) => c.identity)) {
    await client.query(
      `SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(${column.name}) FROM ${table}), 0) + 1, false)`,
      [table, column.name],
    );
  }
  return copied;
}

/** Copies the SQLite shop `source` into the (empty) PostgreSQL database `pool` reaches; all or nothing. */
export async function copySqliteToPostgres(source: ReadableDB, pool: pg.Pool): Promise<CopyReport> {
  const before = verifyLedger(source);
  if (!before.ok) {
    throw new EngineError(
      'validation_failed',
      `the SQLite shop's ledger does not verify (first bad entry ${before.firstBadEntry ?? '-'}): nothing was copied`,
    );
  }
  await migratePostgres(pool);
  return inTransaction(pool, async (client) => {
    const existing = await client.query<{ n: number }>(
      'SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM ledger) AS n',
    );
    if ((existing.rows[0]?.n ?? 0) > 0) {
      throw new EngineError('validation_failed', 'the PostgreSQL database already holds a shop: copy into an empty one');
    }
    const rows: Record<string, number> = {};
    // One read snapshot of the source for the whole copy.
    source.exec('BEGIN');
    try {
      for (const table of TABLES_IN_ORDER) {
        rows[table] = await copyTable(source, client, table);
        const expected = stmt(source, `SELECT count(*) FROM ${table}`).pluck().get() as number;
        if (rows[table] !== expected) throw new Error(`${table}: copied ${rows[table]} rows of ${expected}`);
      }
    } finally {
      source.exec('COMMIT');
    }
    const report = await verifyLedgerIn(client);
    if (!report.ok) {
      throw new EngineError(
        'internal_error',
        `the copied ledger does not verify (${report.problems[0]?.reason ?? 'unknown'}): nothing was committed`,
      );
    }
    const sourceHead = stmt(source, 'SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1').pluck().get() as Buffer | undefined;
    const head = (await client.query<{ hash: Buffer }>('SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1')).rows[0]?.hash;
    if ((sourceHead?.toString('hex') ?? null) !== (head?.toString('hex') ?? null)) {
      throw new EngineError('internal_error', 'the copied ledger ends on another hash than the source: nothing was committed');
    }
    return { rows, ledgerEntries: report.entries, ledgerHead: head?.toString('hex') ?? null };
  });
}
