/**
 * Where imported codes come from and how they are read: pasted text, a file on disk (streamed), bytes
 * uploaded by the browser, or a stream (the CLI's stdin); `.txt` is one code per line, `.csv` picks a
 * column by header alias (卡密, 卡号, 激活码, code, key, serial, ...), by name or by number. Produces
 * batches of codes with their line numbers and counts what it skipped (blank, over-long, invalid lines).
 */
import { createReadStream } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import type { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse/sync';
import { EngineError } from '../lib/errors';
import { checkEncodingName, decodeLines, splitText, type DecodeInfo, type ImportEncoding, type LineBatch } from './import-decode';

/** Where codes come from. */
export type CodeSource =
  | { readonly kind: 'text'; readonly text: string; readonly format?: ImportFormat }
  | { readonly kind: 'bytes'; readonly data: Uint8Array; readonly name?: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'stream'; readonly stream: Readable | AsyncIterable<Uint8Array>; readonly name?: string };

export type ImportFormat = 'txt' | 'csv';

export interface ReadOptions {
  /** The CSV column holding the codes: a header name, or a 1-based number. */
  readonly column?: string | number;
  /** Overrides detection: 'utf-8' or 'gbk' (GB18030). */
  readonly encoding?: string;
  /** How many line numbers each sample list keeps. */
  readonly sampleLines?: number;
}

/** Header names that mark the code column (compared without case, spaces, `_` or `-`). */
export const CODE_HEADER_ALIASES = [
  '卡密',
  '卡号',
  '激活码',
  '兑换码',
  '序列号',
  '密钥',
  'code',
  'codes',
  'key',
  'keys',
  'serial',
  'serialnumber',
  'cdkey',
  'license',
  'licensekey',
  'activationcode',
  'redeemcode',
] as const;

const ALIASES = new Set<string>(CODE_HEADER_ALIASES);

export function normalizeHeader(cell: string): string {
  return cell
    .replace(/^\ufeff/, '')
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\s_-]/g, '');
}

/** What was read besides the codes. */
export interface SourceStats {
  name: string;
  format: ImportFormat;
  encoding: ImportEncoding | null;
  bom: boolean;
  /** The code column (CSV, or a header line in a text file); null when every line is a code. */
  column: { index: number; name: string | null } | null;
  lines: number;
  bytes: number;
  blank: number;
  overLong: number;
  invalid: number;
  blankLines: number[];
  overLongLines: number[];
  invalidLines: number[];
}

export interface CodeBatch {
  readonly codes: string[];
  readonly lines: number[];
  /** Lines read so far (for progress). */
  readonly linesRead: number;
}

export function sourceName(source: CodeSource): string {
  switch (source.kind) {
    case 'text':
      return 'pasted text';
    case 'file':
      return basename(source.path);
    default:
      return source.name ?? (source.kind === 'bytes' ? 'upload' : 'stdin');
  }
}

function formatOf(source: CodeSource, options: ReadOptions): ImportFormat {
  if (source.kind === 'text') return source.format ?? (options.column !== undefined ? 'csv' : 'txt');
  const ext = extname(sourceName(source)).toLowerCase();
  return ext === '.csv' || ext === '.tsv' || options.column !== undefined ? 'csv' : 'txt';
}

/** Counts line breaks without decoding, for a progress total (LF, or CR in an old Mac file). */
function countLines(bytes: Uint8Array): number {
  let lf = 0;
  for (let i = bytes.indexOf(10); i !== -1; i = bytes.indexOf(10, i + 1)) lf++;
  if (lf === 0) for (let i = bytes.indexOf(13); i !== -1; i = bytes.indexOf(13, i + 1)) lf++;
  const last = bytes[bytes.length - 1];
  return bytes.length === 0 ? 0 : lf + (last === 10 || last === 13 ? 0 : 1);
}

/** The number of lines in a source when it can be known cheaply (null for a stream). */
export async function totalLines(source: CodeSource): Promise<number | null> {
  switch (source.kind) {
    case 'text':
      return countLines(Buffer.from(source.text));
    case 'bytes':
      return countLines(source.data);
    case 'stream':
      return null;
    case 'file': {
      const handle = await openFile(source.path, 'r').catch((error: NodeJS.ErrnoException) => {
        throw new EngineError('import_rejected', `cannot read ${basename(source.path)}: ${error.code ?? error.message}`);
      });
      try {
        const buffer = Buffer.alloc(1024 * 1024);
        let count = 0;
        let last = -1;
        let sawLf = false;
        let cr = 0;
        for (;;) {
          const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
          if (bytesRead === 0) break;
          const view = buffer.subarray(0, bytesRead);
          for (let i = view.indexOf(10); i !== -1; i = view.indexOf(10, i + 1)) count++;
          if (!sawLf) for (let i = view.indexOf(13); i !== -1; i = view.indexOf(13, i + 1)) cr++;
          sawLf ||= count > 0;
          last = view[bytesRead - 1]!;
        }
        if (!sawLf) count = cr;
        return last === -1 ? 0 : count + (last === 10 || last === 13 ? 0 : 1);
      } finally {
        await handle.close();
      }
    }
  }
}

async function* bytesOf(data: Uint8Array, chunk = 1024 * 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < data.length; at += chunk) yield data.subarray(at, at + chunk);
}

async function* lineBatches(source: CodeSource, encoding: ImportEncoding | null, info: DecodeInfo): AsyncGenerator<LineBatch> {
  switch (source.kind) {
    case 'text':
      info.encoding = 'utf-8';
      info.bytes = source.text.length;
      yield* splitText(source.text);
      return;
    case 'bytes':
      yield* decodeLines(bytesOf(source.data), encoding, info);
      return;
    case 'stream':
      yield* decodeLines(source.stream, encoding, info);
      return;
    case 'file': {
      const stream = createReadStream(source.path, { highWaterMark: 1024 * 1024 });
      const opened = new Promise<void>((resolve, reject) => {
        stream.once('open', () => resolve());
        stream.once('error', reject);
      });
      try {
        await opened;
      } catch (error) {
        throw new EngineError(
          'import_rejected',
          `cannot read ${basename(source.path)}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
        );
      }
      try {
        yield* decodeLines(stream, encoding, info);
      } finally {
        stream.destroy();
      }
      return;
    }
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]/;

/** Picks the CSV delimiter from the first line: the most frequent of comma, tab and semicolon. */
function delimiterOf(line: string): string {
  let best = ',';
  let bestCount = 0;
  for (const d of [',', '\t', ';']) {
    const count = line.split(d).length - 1;
    if (count > bestCount) {
      best = d;
      bestCount = count;
    }
  }
  return best;
}

/**
 * Reads a source into batches of codes. Stats are filled in as it goes (encoding after the first
 * batch). Fails with `import_rejected` for binary or undecodable input and for a CSV whose code column
 * cannot be told.
 */
export async function* readCodes(source: CodeSource, options: ReadOptions, stats: SourceStats): AsyncGenerator<CodeBatch> {
  const keep = options.sampleLines ?? 20;
  const forced = options.encoding === undefined || options.encoding === 'auto' ? null : checkEncodingName(options.encoding);
  const info: DecodeInfo = { encoding: null, bom: false, bytes: 0 };
  const csv = stats.format === 'csv';
  let headerDone = false;
  let delimiter = ',';
  let columnIndex = 0;

  const skip = (kind: 'blank' | 'overLong' | 'invalid', line: number): void => {
    stats[kind]++;
    const list = kind === 'blank' ? stats.blankLines : kind === 'overLong' ? stats.overLongLines : stats.invalidLines;
    if (list.length < keep) list.push(line);
  };

  /** The first non-blank record decides the column (CSV) or may be a header line (text). */
  const header = (cells: string[], line: number): boolean => {
    headerDone = true;
    const normalized = cells.map(normalizeHeader);
    const wanted = options.column;
    if (wanted !== undefined) {
      const byName = typeof wanted === 'string' ? normalized.indexOf(normalizeHeader(wanted)) : -1;
      if (byName !== -1) {
        columnIndex = byName;
        stats.column = { index: byName + 1, name: cells[byName]!.trim() };
        return true;
      }
      const number = typeof wanted === 'number' ? wanted : /^\d+$/.test(wanted.trim()) ? Number(wanted) : NaN;
      if (!Number.isSafeInteger(number) || number < 1) {
        throw new EngineError(
          'import_rejected',
          `no column named "${String(wanted).slice(0, 60)}" on line ${line} (it has: ${cells
            .map((c) => c.trim())
            .join(', ')
            .slice(0, 200)})`,
        );
      }
      columnIndex = number - 1;
      const isHeader = normalized.some((c) => ALIASES.has(c));
      stats.column = { index: number, name: isHeader ? (cells[columnIndex]?.trim() ?? null) : null };
      return isHeader;
    }
    const alias = normalized.findIndex((c) => ALIASES.has(c));
    if (alias !== -1) {
      columnIndex = alias;
      stats.column = { index: alias + 1, name: cells[alias]!.trim() };
      return true;
    }
    if (cells.length > 1 && csv) {
      throw new EngineError(
        'import_rejected',
        `cannot tell which column holds the codes (line ${line} has: ${cells
          .map((c) => c.trim())
          .join(', ')
          .slice(0, 200)}): choose the column`,
      );
    }
    columnIndex = 0;
    stats.column = csv ? { index: 1, name: null } : null;
    return false;
  };

  const accept = (value: string | undefined, line: number, codes: string[], lines: number[]): void => {
    const code = (value ?? '').trim();
    if (code === '') return skip('blank', line);
    if (CONTROL.test(code)) return skip('invalid', line);
    codes.push(code);
    lines.push(line);
  };

  for await (const batch of lineBatches(source, forced, info)) {
    stats.encoding = info.encoding;
    stats.bom = info.bom;
    stats.bytes = info.bytes;
    const codes: string[] = [];
    const lines: number[] = [];
    const { firstLine } = batch;
    if (!csv) {
      for (let i = 0; i < batch.lines.length; i++) {
        const text = batch.lines[i]!;
        const line = firstLine + i;
        if (text === null) skip('overLong', line);
        else if (!headerDone && text.trim() !== '' && header([text], line)) continue;
        else accept(text, line, codes, lines);
      }
    } else {
      if (!headerDone) {
        const first = batch.lines.find((l): l is string => l !== null && l.trim() !== '');
        if (first !== undefined) delimiter = delimiterOf(first);
      }
      const records = parseBatch(batch.lines, delimiter);
      for (let i = 0; i < batch.lines.length; i++) {
        const line = firstLine + i;
        const record = records[i];
        if (batch.lines[i] === null) skip('overLong', line);
        else if (record === undefined) skip('invalid', line);
        else if (!headerDone && record.some((c) => c.trim() !== '') && header(record, line)) continue;
        else if (record.every((c) => c.trim() === '')) skip('blank', line);
        else accept(record[columnIndex], line, codes, lines);
      }
    }
    stats.lines = firstLine + batch.lines.length - 1;
    if (codes.length > 0 || batch.lines.length > 0) yield { codes, lines, linesRead: stats.lines };
  }
  stats.encoding = info.encoding;
  stats.bom = info.bom;
  stats.bytes = info.bytes;
}

const CSV_OPTIONS = { relax_column_count: true, skip_empty_lines: false, relax_quotes: true } as const;

/**
 * Parses a batch of lines as CSV, one record per line. A line the parser cannot read alone (an
 * unclosed quote) is `undefined`: a rejected line, not a failed import.
 */
function parseBatch(lines: readonly (string | null)[], delimiter: string): (string[] | undefined)[] {
  // Trailing empty lines are not records to the parser; they are blank lines to us.
  let end = lines.length;
  while (end > 0 && (lines[end - 1] ?? '') === '') end--;
  const text = lines
    .slice(0, end)
    .map((l) => l ?? '')
    .join('\n');
  try {
    const records = end === 0 ? [] : parseCsv(text, { ...CSV_OPTIONS, delimiter });
    if (records.length === end) {
      for (let i = end; i < lines.length; i++) records.push(['']);
      return records;
    }
  } catch {
    // Fall through: read line by line to find the bad one.
  }
  return lines.map((l) => {
    try {
      return parseCsv(l ?? '', { ...CSV_OPTIONS, delimiter })[0] ?? [''];
    } catch {
      return undefined;
    }
  });
}

export function newStats(source: CodeSource, options: ReadOptions): SourceStats {
  return {
    name: sourceName(source),
    format: formatOf(source, options),
    encoding: null,
    bom: false,
    column: null,
    lines: 0,
    bytes: 0,
    blank: 0,
    overLong: 0,
    invalid: 0,
    blankLines: [],
    overLongLines: [],
    invalidLines: [],
  };
}
