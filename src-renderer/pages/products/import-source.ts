/**
 * Reading what the owner chose to import, in the browser: a File to base64 (the same in browser mode
 * and in the desktop window), and the first row of a CSV for the column picker, parsed by csv-parse and
 * decoded with the chosen (or a guessed) encoding. The main process does the real reading and checking.
 */
import { parse } from 'csv-parse/browser/esm/sync';
import type { ImportEncodingChoice } from './keys-api';

/** Larger files go through the command line (`oncekey import`), which streams from disk. */
export { MAX_IMPORT_BYTES as MAX_UPLOAD_BYTES } from '../../../shared/rpc/keys';
const HEAD_BYTES = 64 * 1024;

export function isCsvName(name: string): boolean {
  return /\.(csv|tsv)$/i.test(name);
}

/** Pasted text that looks like a table (its first line has a comma, tab or semicolon between cells). */
export function looksLikeCsv(text: string): boolean {
  const first = text.split(/\r?\n/, 1)[0] ?? '';
  return /[,\t;]/.test(first);
}

/** A Blob's bytes (FileReader where Blob.arrayBuffer is missing, as in older engines and jsdom). */
function readBytes(blob: Blob): Promise<Uint8Array> {
  if (typeof blob.arrayBuffer === 'function') return blob.arrayBuffer().then((buffer) => new Uint8Array(buffer));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(new Uint8Array(reader.result as ArrayBuffer));
    reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'));
    reader.readAsArrayBuffer(blob);
  });
}

export async function fileToBase64(file: Blob): Promise<string> {
  const bytes = await readBytes(file);
  let binary = '';
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) binary += String.fromCharCode(...bytes.subarray(i, i + step));
  return btoa(binary);
}

function decode(bytes: Uint8Array, encoding: ImportEncodingChoice | null): string {
  if (encoding === 'gbk') return new TextDecoder('gbk').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Not UTF-8: most likely GBK (a file exported by a Chinese spreadsheet).
    return encoding === 'utf-8' ? new TextDecoder('utf-8').decode(bytes) : new TextDecoder('gbk').decode(bytes);
  }
}

/** The cells of the first row: the header names (or the first codes) for the column picker. */
export function headerCells(text: string): string[] {
  const first = (text.replace(/^\ufeff/, '').split(/\r?\n/, 1)[0] ?? '').slice(0, 4096);
  if (first.trim() === '') return [];
  const delimiter = first.includes('\t') ? '\t' : first.includes(',') ? ',' : first.includes(';') ? ';' : ',';
  try {
    const rows: string[][] = parse(first, { delimiter, relax_quotes: true, relax_column_count: true, skip_empty_lines: true });
    return (rows[0] ?? []).map((cell) => cell.trim());
  } catch {
    return first.split(delimiter).map((cell) => cell.trim());
  }
}

export async function fileHeader(file: Blob, encoding: ImportEncodingChoice | null): Promise<string[]> {
  const head = await readBytes(file.slice(0, HEAD_BYTES));
  return headerCells(decode(head, encoding));
}

export function formatBytes(bytes: number, language: string): string {
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${new Intl.NumberFormat(language, { maximumFractionDigits: unit === 0 ? 0 : 1 }).format(value)} ${units[unit]}`;
}
