/**
 * Branded database handles. A function that only reads takes `ReadableDB`; one that writes takes
 * `WritableDB`, so a read path cannot be handed a write by accident. Both are the same better-sqlite3
 * object at run time.
 */
import type Database from 'better-sqlite3';

export type ReadableDB = Database.Database & { readonly __readable: never };
export type WritableDB = ReadableDB & { readonly __writable: never };

/** The SQLite error codes we react to. */
export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED';
}

export function isConstraintError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}
