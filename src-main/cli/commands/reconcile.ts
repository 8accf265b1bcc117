/**
 * `oncekey reconcile`: list every disagreement between orders, keys, payments and the ledger, and with
 * `--statement <file> [--format <preset>]` against a payment provider's bill (imported first; a bill
 * imported before is compared again, not refused). Exits 0 whenever it ran, whatever it found.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { STATEMENT_FORMATS, type StatementFormat } from '../../../shared/reconcile';
import { importStatement, runReconcile } from '../../reconcile/service';
import { checkTimeZone } from '../../reconcile/statements/period';

const PERIOD_RULE_TEXT = { declared: 'as the bill declares', row_days: 'the whole days of its rows', given: 'as given' } as const;
import { DATA_OPTION, JSON_OPTION, openEngine, parse, printJson, table, UsageError, type Io } from '../context';

export async function reconcileCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    ...DATA_OPTION,
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
  const engine = openEngine(values.data);
  try {
    let statementIds: number[] | undefined;
    if (bytes !== undefined) {
      const imported = await importStatement(engine, {
        bytes,
        fileName: basename(values.statement!),
        format: format as StatementFormat | undefined,
        timeZone: values['time-zone'],
        from: values.from,
        to: values.to,
        actor: 'cli',
        nothingNew: 'accept',
      });
      statementIds = imported.existingIds;
      if (!values.json) {
        io.err(
          imported.statement
            ? `imported ${imported.imported} row(s) from ${imported.statement.source} (${imported.statement.format}); ${imported.duplicates} seen before, ${imported.skipped.length} skipped; ` +
                `period ${imported.statement.periodStart} .. ${imported.statement.periodEnd} (${PERIOD_RULE_TEXT[imported.statement.periodRule ?? 'row_days']}${imported.timeZone ? `, ${imported.timeZone}` : ''})`
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
