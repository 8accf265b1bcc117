/**
 * `oncekey reconcile`: list every disagreement between orders, keys, payments and the ledger, and with
 * `--statement <file> [--format <preset>]` against a payment provider's bill (imported first; a bill
 * imported before is compared again, not refused). Exits 0 whenever it ran, whatever it found.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { STATEMENT_FORMATS, type StatementFormat } from '../../../shared/reconcile';
import { importStatement, runReconcile } from '../../reconcile/service';
import { DATA_OPTION, JSON_OPTION, openEngine, parse, printJson, table, UsageError, type Io } from '../context';

export async function reconcileCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    ...DATA_OPTION,
    ...JSON_OPTION,
    statement: { type: 'string' },
    format: { type: 'string' },
    'no-ledger': { type: 'boolean', default: false },
  });
  const format = values.format;
  if (format !== undefined && !(STATEMENT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--format must be one of ${STATEMENT_FORMATS.join(', ')}`);
  }
  if (format !== undefined && values.statement === undefined) throw new UsageError('--format goes with --statement <file>');
  let bytes: Buffer | undefined;
  if (values.statement !== undefined) {
    try {
      bytes = readFileSync(values.statement);
    } catch (error) {
      throw new Error(`cannot read ${values.statement}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const engine = openEngine(values.data);
  try {
    let statementIds: number[] | undefined;
    if (bytes !== undefined) {
      const imported = await importStatement(engine, {
        bytes,
        fileName: basename(values.statement!),
        format: format as StatementFormat | undefined,
        actor: 'cli',
        nothingNew: 'accept',
      });
      statementIds = imported.existingIds;
      if (!values.json) {
        io.err(
          imported.statement
            ? `imported ${imported.imported} row(s) from ${imported.statement.source} (${imported.statement.format}); ${imported.duplicates} seen before, ${imported.skipped.length} skipped`
            : `every row of ${basename(values.statement!)} was imported before; comparing against it again`,
        );
      }
    }
    const report = await runReconcile(engine, { ...(statementIds ? { statementIds } : {}), ledger: !values['no-ledger'] });
    if (values.json) {
      printJson(io, report);
      return 0;
    }
    const counts = Object.entries(report.counts).filter(([, c]) => c.open + c.resolved > 0);
    if (counts.length === 0) {
      io.out('no disagreements: orders, keys, payments and the ledger agree');
      return 0;
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
    return 0;
  } finally {
    await engine.close();
  }
}
