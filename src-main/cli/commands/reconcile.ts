/**
 * `oncekey reconcile`: list every disagreement between orders, keys, payments and the ledger, and with
 * `--statement <file> [--format <preset>]` against a payment provider's bill (imported first; a bill
 * imported before is compared again, not refused). Exits 0 whenever it ran, whatever it found.
 *
 * With `--database postgres://...` (or ONCEKEY_DATABASE_URL) the bill is imported into the PostgreSQL
 * shop as into the SQLite file (reconcile/service.ts importStatementPg, one transaction), and a snapshot
 * of the shop is reconciled against it (reconcile/postgres.ts). The output is the same on both.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { STATEMENT_FORMATS, type ReconcileReport, type StatementFormat } from '../../../shared/reconcile';
import type pg from 'pg';
import { inTransaction, openPool, redactUrl } from '../../pg/connect';
import { checkShopSchema } from '../../pg/snapshot-to-sqlite';
import { isEngineError } from '../../lib/errors';
import { reconcilePostgres } from '../../reconcile/postgres';
import {
  importStatement,
  importStatementPg,
  runReconcile,
  type ImportStatementInput,
  type ImportStatementResult,
} from '../../reconcile/service';
import { checkTimeZone } from '../../reconcile/statements/period';
import { JSON_OPTION, openEngine, parse, printJson, table, UsageError, type Io } from '../context';
import { BACKEND_OPTIONS } from '../open-backend';
import { databaseUrl } from './database-option';

const PERIOD_RULE_TEXT = { declared: 'as the bill declares', row_days: 'the whole days of its rows', given: 'as given' } as const;

function importedLine(imported: ImportStatementResult, file: string): string {
  return imported.statement
    ? `imported ${imported.imported} row(s) from ${imported.statement.source} (${imported.statement.format}); ${imported.duplicates} seen before, ${imported.skipped.length} skipped; ` +
        `period ${imported.statement.periodStart} .. ${imported.statement.periodEnd} (${PERIOD_RULE_TEXT[imported.statement.periodRule ?? 'row_days']}${imported.timeZone ? `, ${imported.timeZone}` : ''})`
    : `every row of ${basename(file)} was imported before; comparing against it again`;
}

function printReport(io: Io, report: ReconcileReport, json: boolean): void {
  if (json) {
    printJson(io, report);
    return;
  }
  const counts = Object.entries(report.counts).filter(([, c]) => c.open + c.resolved > 0);
  if (counts.length === 0) {
    io.out('no disagreements: orders, keys, payments and the ledger agree');
    return;
  }
  io.out(
    table(
      ['kind', 'open', 'resolved'],
      counts.map(([kind, c]) => [kind, c.open, c.resolved]),
    ),
  );
  io.out('');
  for (const f of report.findings) io.out(`${f.status === 'open' ? '!' : '✓'} ${f.id}  ${f.summary}`);
  if (report.truncated) io.out('(more findings than shown: use --json or the Reconcile page)');
}

type StatementArg = Omit<ImportStatementInput, 'actor' | 'nothingNew'>;

/** A bill imported into a PostgreSQL shop (as on SQLite), then one reconciliation of a snapshot of the shop. */
async function reconcileOnPostgres(
  url: string,
  values: { json: boolean; 'no-ledger': boolean; statement?: string | undefined },
  statement: StatementArg | undefined,
  io: Io,
): Promise<number> {
  // A one-off command: one connection, for the import's transaction and then the snapshot's.
  const pool = openPool(url, 1);
  const named = (error: unknown): never => {
    if (isEngineError(error)) throw error;
    throw new Error(`PostgreSQL at ${redactUrl(url)}: ${error instanceof Error ? error.message : String(error)}`);
  };
  // No PgShop is opened (it would migrate the database and unlock the vault): the import's transaction
  // checks the schema itself. One attempt: a failure is reported and the owner runs the command again.
  const write = <T>(fn: (client: pg.PoolClient, now: number) => Promise<T>): Promise<T> =>
    inTransaction(pool, async (client) => {
      await checkShopSchema(client);
      return fn(client, Date.now());
    });
  try {
    let statementIds: number[] | undefined;
    if (statement !== undefined) {
      const imported = await importStatementPg({ write }, { ...statement, actor: 'cli', nothingNew: 'accept' }).catch(named);
      statementIds = imported.existingIds;
      if (!values.json) io.err(importedLine(imported, values.statement!));
    }
    const { report } = await reconcilePostgres(pool, {
      ledger: !values['no-ledger'],
      ...(statementIds ? { statementIds } : {}),
    }).catch(named);
    printReport(io, report, values.json);
    return 0;
  } finally {
    await pool.end();
  }
}

export async function reconcileCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    ...BACKEND_OPTIONS,
    ...JSON_OPTION,
    statement: { type: 'string' },
    format: { type: 'string' },
    'time-zone': { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    'no-ledger': { type: 'boolean', default: false },
  });
  const format = values.format;
  if (format !== undefined && !(STATEMENT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${STATEMENT_FORMATS.join(', ')}`);
  }
  for (const flag of ['format', 'time-zone', 'from', 'to'] as const) {
    if (values[flag] !== undefined && values.statement === undefined)
      throw new UsageError(`--${flag} goes with --statement <file>`);
  }
  if (values['time-zone'] !== undefined) {
    try {
      checkTimeZone(values['time-zone']);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  let bytes: Buffer | undefined;
  if (values.statement !== undefined) {
    try {
      bytes = readFileSync(values.statement);
    } catch (error) {
      throw new Error(`cannot read ${values.statement}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const statement: StatementArg | undefined =
    bytes === undefined
      ? undefined
      : {
          bytes,
          fileName: basename(values.statement!),
          format: format as StatementFormat | undefined,
          timeZone: values['time-zone'],
          from: values.from,
          to: values.to,
        };
  const url = databaseUrl(values.database);
  if (url !== undefined) return reconcileOnPostgres(url, values, statement, io);
  const engine = openEngine(values.data);
  try {
    let statementIds: number[] | undefined;
    if (statement !== undefined) {
      const imported = await importStatement(engine, { ...statement, actor: 'cli', nothingNew: 'accept' });
      statementIds = imported.existingIds;
      if (!values.json) io.err(importedLine(imported, values.statement!));
    }
    const report = await runReconcile(engine, { ...(statementIds ? { statementIds } : {}), ledger: !values['no-ledger'] });
    printReport(io, report, values.json);
    return 0;
  } finally {
    await engine.close();
  }
}
