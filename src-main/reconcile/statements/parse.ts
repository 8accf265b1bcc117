/**
 * Parsing a payment statement: decode the bytes (zip, UTF-8 or GBK), read the CSV with csv-parse, find
 * the header row by the preset's columns (providers put title lines above it), map each row through the
 * preset, and stop at a summary block. A row the preset does not count (a fee, a pending payment) is
 * listed as skipped with its reason; a row that is malformed refuses the whole file, naming its line,
 * because a statement read half-way would make reconciliation lie.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import type { ColumnMapping, StatementFormat } from '../../../shared/reconcile';
import { EngineError } from '../../lib/errors';
import { decodeStatement } from './decode';
import { CellError, clean, parseTime } from './fields';
import { statementPeriod, type PeriodRule } from './period';
import { mappedPreset, PRESETS, type Preset, type RowOut } from './presets';

export interface ParsedRow extends RowOut {
  readonly line: number;
}

export interface Parsed {
  readonly format: StatementFormat | 'custom';
  readonly encoding: string;
  readonly rows: ParsedRow[];
  readonly skipped: { line: number; reason: string }[];
  readonly periodStart: number | null;
  readonly periodEnd: number | null;
  /** Which rule set the period (period.ts), and the time zone whole days were counted in. */
  readonly periodRule: PeriodRule;
  readonly timeZone: string;
}

export interface ParseOptions {
  /** A preset; omitted: detected from the header row. */
  readonly format?: StatementFormat;
  /** Column mapping for a CSV no preset knows (wins over `format`). */
  readonly mapping?: ColumnMapping;
  /** The shop's time zone for whole days (default: Asia/Shanghai for a CNY bill, else UTC). */
  readonly timeZone?: string | undefined;
  /** `--from` / `--to`: a date or a date-time with offset; wins over what the bill says. */
  readonly from?: string | undefined;
  readonly to?: string | undefined;
}

const MAX_SKIPPED = 1000;
const HEADER_SEARCH_LINES = 60;

interface Rec {
  record: string[];
  info: { lines: number };
}

function records(text: string, comments: boolean): Rec[] {
  try {
    return parseCsv(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
      ...(comments ? { comment: '#', comment_no_infix: true } : {}),
    }) as unknown as Rec[];
  } catch (error) {
    throw new EngineError('validation_failed', `the statement is not a readable CSV: ${(error as Error).message.slice(0, 200)}`);
  }
}

function headerIndex(recs: readonly Rec[], preset: Preset): number {
  const limit = Math.min(recs.length, HEADER_SEARCH_LINES);
  for (let i = 0; i < limit; i++) {
    const cells = new Set(recs[i]!.record.map(clean));
    if (preset.required.every((c) => cells.has(c))) return i;
  }
  return -1;
}

/** Alipay states its period in comment lines: #起始日期：[2026年11月24日 00:00:00]   终止日期：[...] */
function declaredPeriod(text: string): { start: number; end: number } | null {
  const head = text.slice(0, 4000);
  const start = /起始日期[:：]\s*\[([^\]]+)\]/.exec(head)?.[1];
  const end = /终止日期[:：]\s*\[([^\]]+)\]/.exec(head)?.[1];
  if (!start || !end) return null;
  try {
    return { start: parseTime(start, '+08:00'), end: parseTime(end, '+08:00') };
  } catch {
    return null;
  }
}

export function parseStatement(bytes: Uint8Array, options: ParseOptions = {}): Parsed {
  const decoded = decodeStatement(bytes);
  const text = decoded.text;
  let preset: Preset | undefined = options.mapping
    ? mappedPreset(options.mapping)
    : options.format
      ? PRESETS[options.format]
      : undefined;
  let recs: Rec[] = [];
  let header = -1;
  if (preset) {
    recs = records(text, preset.comments === true);
    header = headerIndex(recs, preset);
    if (header < 0) {
      throw new EngineError(
        'validation_failed',
        `this is not a ${preset.label} file: no header row with ${preset.required.join(', ')}`,
      );
    }
  } else {
    for (const candidate of Object.values(PRESETS)) {
      recs = records(text, candidate.comments === true);
      header = headerIndex(recs, candidate);
      if (header >= 0) {
        preset = candidate;
        break;
      }
    }
    if (!preset)
      throw new EngineError('validation_failed', 'the statement format was not recognised: choose a preset or map its columns');
  }

  const names = recs[header]!.record.map(clean);
  const index = new Map<string, number>();
  names.forEach((name, i) => {
    if (!index.has(name)) index.set(name, i);
  });
  const rows: ParsedRow[] = [];
  const skipped: { line: number; reason: string }[] = [];
  for (let i = header + 1; i < recs.length; i++) {
    const { record, info } = recs[i]!;
    const line = info.lines;
    const first = clean(record[0]);
    if (preset.stopAt?.(first)) break;
    if (record.every((c) => clean(c) === '')) continue;
    const get = (column: string): string => {
      const at = /^\d+$/.test(column) ? Number(column) - 1 : index.get(column);
      return at === undefined ? '' : clean(record[at]);
    };
    let out: RowOut | { skip: string };
    try {
      out = preset.row(get);
    } catch (error) {
      if (error instanceof CellError)
        throw new EngineError('validation_failed', `line ${line}: ${error.message}; nothing was imported`);
      throw error;
    }
    if ('skip' in out) {
      if (skipped.length < MAX_SKIPPED) skipped.push({ line, reason: out.skip });
      continue;
    }
    if (!/^[A-Z]{3}$/.test(out.currency))
      throw new EngineError('validation_failed', `line ${line}: currency "${out.currency.slice(0, 10)}" is not an ISO 4217 code`);
    if (out.paymentId.length > 300 || (out.orderId?.length ?? 0) > 300)
      throw new EngineError('validation_failed', `line ${line}: an id is longer than 300 characters`);
    rows.push({ ...out, line });
  }
  if (rows.length === 0) {
    throw new EngineError(
      'validation_failed',
      `the ${preset.label} file holds no payments or refunds (${skipped.length} row(s) skipped)`,
    );
  }
  let period;
  try {
    period = statementPeriod({
      rows,
      declared: declaredPeriod(text),
      given: { from: options.from, to: options.to },
      timeZone: options.timeZone,
    });
  } catch (error) {
    throw new EngineError('validation_failed', (error as Error).message);
  }
  return {
    format: preset.format,
    encoding: decoded.encoding,
    rows,
    skipped,
    periodStart: period.start,
    periodEnd: period.end,
    periodRule: period.rule,
    timeZone: period.timeZone,
  };
}
