/**
 * Prepared statements cached per connection. Preparing costs more than running a short statement, and
 * the purchase path runs the same handful of statements thousands of times a second.
 */
import type { Statement } from 'better-sqlite3';
import type { ReadableDB } from './types';

const caches = new WeakMap<ReadableDB, Map<string, Statement>>();

/** `map`'s value for `key`, made and stored on first use. */
function cached<K, V>(map: { get(key: K): V | undefined; set(key: K, value: V): unknown }, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

export function stmt(db: ReadableDB, sql: string): Statement {
  return cached(
    cached(caches, db, () => new Map<string, Statement>()),
    sql,
    () => db.prepare(sql),
  );
}

/**
 * A statement run over many rows at once: `sql(list)` is the statement with `list` holding `tuple` once
 * per row (`(?, ?), (?, ?)` for a tuple of `(?, ?)`), each row binding `width` values. Declare one per
 * module (its statements are cached per object and connection).
 */
export interface RowsStatement {
  readonly sql: (list: string) => string;
  readonly tuple: string;
  readonly width: number;
}

/** Row counts of the statements a RowsStatement prepares: any count is a sum of these. */
const CHUNK_ROWS = [64, 16, 4, 1] as const;

const chunkCaches = new WeakMap<ReadableDB, Map<RowsStatement, Statement[]>>();

function chunkStatement(db: ReadableDB, rows: RowsStatement, size: number, index: number): Statement {
  const statements = cached(
    cached(chunkCaches, db, () => new Map<RowsStatement, Statement[]>()),
    rows,
    (): Statement[] => [],
  );
  return (statements[index] ??= db.prepare(rows.sql(Array.from({ length: size }, () => rows.tuple).join(', '))));
}

/**
 * Runs `rows` over `values` (the rows one after another) a chunk at a time: chunks of 64, 16, 4 and 1
 * rows, so four cached statements serve every count, and a batch of purchases binds a table's rows in a
 * few executions instead of one per row. `use` runs each chunk's statement with its values.
 */
export function eachChunk(
  db: ReadableDB,
  rows: RowsStatement,
  values: readonly unknown[],
  use: (statement: Statement, chunk: unknown[]) => void,
): void {
  const { width } = rows;
  if (values.length % width !== 0) throw new RangeError(`${values.length} values do not make rows of ${width}`);
  let at = 0;
  CHUNK_ROWS.forEach((size, index) => {
    const length = size * width;
    if (values.length - at < length) return;
    const statement = chunkStatement(db, rows, size, index);
    // Values that are exactly one chunk (a full batch of 64 purchases) are bound as they are, uncopied.
    for (; values.length - at >= length; at += length)
      use(statement, length === values.length ? (values as unknown[]) : values.slice(at, at + length));
  });
}

/** `eachChunk` for a write: runs every chunk and returns the rows changed in all. */
export function runRows(db: ReadableDB, rows: RowsStatement, values: readonly unknown[]): number {
  let changes = 0;
  eachChunk(db, rows, values, (statement, chunk) => {
    changes += statement.run(chunk).changes;
  });
  return changes;
}

/** `eachChunk` for a read: every chunk's result rows, in chunk order. */
export function allRows<T>(db: ReadableDB, rows: RowsStatement, values: readonly unknown[]): T[] {
  const out: T[] = [];
  eachChunk(db, rows, values, (statement, chunk) => {
    for (const row of statement.all(chunk) as T[]) out.push(row);
  });
  return out;
}
