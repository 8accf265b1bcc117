/**
 * `oncekey import`: codes from a `.txt`/`.csv` file or stdin (`-`) into a product, atomically (every
 * accepted code or none), or `--dry-run` to preview. Progress goes to stderr (a live line on a
 * terminal, a line every few seconds otherwise); the summary to stdout, or one JSON object with --json.
 * Ctrl-C cancels and stores nothing. On PostgreSQL (`--database`, or ONCEKEY_DATABASE_URL) the same
 * pipeline gives the same report, and the import is one transaction there.
 */
import { resolve } from 'node:path';
import type { ImportProgress, ImportReport } from '../../vault/import';
import type { CodeSource } from '../../vault/import-source';
import { JSON_OPTION, parse, printJson, requireString, UsageError, type Io } from '../context';
import { BACKEND_OPTIONS, openBackend } from '../open-backend';

const USAGE =
  'usage: oncekey import --data <dir> [--database postgres://...] --product <id> <file|-> [--column c] [--encoding utf-8|gbk] [--dry-run] [--json]';

function lineList(lines: readonly number[], count: number): string {
  if (count === 0) return '0';
  const more = count > lines.length ? ', …' : '';
  return `${count} (line${count === 1 ? '' : 's'} ${lines.join(', ')}${more})`;
}

/** The summary for people: what was (or would be) stored, and what was left out and where. */
export function describeReport(report: ImportReport): string[] {
  const n = (value: number): string => value.toLocaleString('en-US');
  const how = [
    report.encoding ?? 'empty',
    report.bom ? 'with BOM' : null,
    report.format,
    report.column ? `column ${report.column.index}${report.column.name ? ` "${report.column.name}"` : ''}` : null,
  ]
    .filter(Boolean)
    .join(', ');
  const head = report.dryRun
    ? `preview: ${n(report.accepted)} new code${report.accepted === 1 ? '' : 's'} would be imported into ${report.productId} from ${report.source} (${how}); nothing was stored`
    : `imported ${n(report.imported)} code${report.imported === 1 ? '' : 's'} into ${report.productId} from ${report.source} (${how})`;
  const s = report.samples;
  return [
    head,
    `  lines read:             ${n(report.lines)}`,
    `  repeated in the file:   ${lineList(s.duplicatesInBatch, report.duplicatesInBatch)}`,
    `  already in the vault:   ${lineList(s.duplicatesInVault, report.duplicatesInVault)}`,
    `  blank lines:            ${lineList(s.blank, report.blank)}`,
    `  over-long lines:        ${lineList(s.overLong, report.overLong)}`,
    `  unreadable lines:       ${lineList(s.invalid, report.invalid)}`,
  ];
}

function progressPrinter(): { update: (p: ImportProgress) => void; done: () => void } {
  const tty = process.stderr.isTTY === true;
  // Off a terminal, only an import that runs for a while reports progress.
  let last = tty ? 0 : Date.now();
  let printed = false;
  return {
    update: ({ done, total }) => {
      const now = Date.now();
      if (!tty && now - last < 5000) return;
      if (tty && now - last < 100) return;
      last = now;
      const text = total
        ? `importing: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} lines (${Math.floor((done * 100) / Math.max(total, 1))}%)`
        : `importing: ${done.toLocaleString('en-US')} lines`;
      process.stderr.write(tty ? `\r${text}\u001b[K` : `${text}\n`);
      printed = true;
    },
    done: () => {
      if (tty && printed) process.stderr.write('\r\u001b[K');
    },
  };
}

export async function importCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...BACKEND_OPTIONS,
      ...JSON_OPTION,
      product: { type: 'string' },
      column: { type: 'string' },
      encoding: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
    true,
  );
  const productId = requireString(values.product, '--product <id>');
  if (positionals.length !== 1)
    throw new UsageError(
      positionals.length === 0 ? `a file (or - for stdin) is required; ${USAGE}` : `one file at a time; ${USAGE}`,
    );
  const file = positionals[0]!;
  const encoding = values.encoding;
  if (encoding !== undefined && !/^(utf-?8|gbk|gb18030|auto)$/i.test(encoding))
    throw new UsageError('--encoding must be utf-8 or gbk');
  const source: CodeSource =
    file === '-' ? { kind: 'stream', stream: process.stdin, name: 'stdin' } : { kind: 'file', path: resolve(file) };

  const shop = await openBackend(values);
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  const progress = progressPrinter();
  try {
    const options = {
      ...(values.column !== undefined ? { column: values.column } : {}),
      ...(encoding !== undefined ? { encoding } : {}),
      signal: controller.signal,
      onProgress: progress.update,
    };
    const report = values['dry-run']
      ? await shop.previewImport(productId, source, options)
      : await shop.importCodes(productId, source, options);
    progress.done();
    if (values.json) printJson(io, report);
    else for (const line of describeReport(report)) io.out(line);
    return 0;
  } catch (error) {
    progress.done();
    if (controller.signal.aborted) {
      io.err('oncekey import: cancelled; nothing was stored');
      return 130;
    }
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
    await shop.close();
  }
}
