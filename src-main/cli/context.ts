/** What every CLI command shares: option parsing, opening the shop, and one-line errors. */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Engine, type EngineOptions } from '../engine/engine';

/** A usage mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

export const consoleIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

type Options = NonNullable<ParseArgsConfig['options']>;

export const DATA_OPTION = { data: { type: 'string' } } as const satisfies Options;
export const JSON_OPTION = { json: { type: 'boolean', default: false } } as const satisfies Options;

export function parse<O extends Options>(argv: readonly string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: [...argv], options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/s, ''));
  }
}

export function requireString(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

export function parseInteger(value: string | undefined, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} must be a whole number of at least ${min}`);
  return Number(value);
}

/** Opens the shop in `--data`; the vault opens with ONCEKEY_PASSPHRASE if set, else the data folder's key file. */
export function openEngine(data: string | undefined, extra: Partial<EngineOptions> = {}): Engine {
  const dataDir = resolve(requireString(data, '--data <dir>'));
  const passphrase = process.env.ONCEKEY_PASSPHRASE;
  return Engine.open({ dataDir, ...(passphrase ? { passphrase } : {}), ...extra });
}

export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value));
}

/** Renders rows as an aligned text table for people. */
export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
