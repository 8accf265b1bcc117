/**
 * How a strategy on the real servers is written: the same kind of generator as on SQLite (program.ts),
 * yielding one request at a time, but each read or write is async and gets the buyer's own connections
 * (a PostgreSQL client, and a Redis client on the redis engine). The runner (executor.ts) performs the
 * requests and records the history in the same shape as SQLite's, so the checker and the timeline read
 * both alike.
 */
import type pg from 'pg';
import type { RedisClientType } from 'redis';
import type { EventDetail } from '../../../shared/sim';
import type { BuyerContext, Env, Outcome } from '../program';

/** What `createClient({ url })` returns: RESP3, no modules or scripts of our own. */
export type RedisClient = RedisClientType;

/** The names of one run's scratch data: a schema of its own, and a prefix for its Redis keys. */
export interface ScratchNames {
  readonly schema: string;
  readonly keyPrefix: string;
}

/** One buyer's connections, held for the whole purchase. */
export interface Conns {
  readonly pg: pg.Client;
  /** Null on the postgres engine. */
  readonly redis: RedisClient | null;
  readonly names: ScratchNames;
}

export type ServerFn<T> = (c: Conns, env: Env) => Promise<T>;

export type ServerRequest =
  | { readonly op: 'begin'; readonly sql: string; readonly mode: string }
  | { readonly op: 'commit' }
  | { readonly op: 'rollback' }
  | { readonly op: 'think' }
  | {
      readonly op: 'read' | 'write';
      readonly label: string;
      readonly run: ServerFn<unknown>;
      readonly describe: (result: unknown) => EventDetail;
      /** The statement may wait for a row lock: a slow answer is drawn as a lock wait on the timeline. */
      readonly mayWait?: boolean;
    }
  /** Try to take something (the Redis lock); `false` means "held by someone else": the runner waits and asks again. */
  | { readonly op: 'acquire'; readonly label: string; readonly run: ServerFn<boolean> };

export type ServerGen<T> = Generator<ServerRequest, T, unknown>;
export type ServerProgram = ServerGen<Outcome>;

export interface ServerStrategy {
  readonly summary: string;
  readonly program: (ctx: BuyerContext) => ServerProgram;
}

export function* read<T>(
  label: string,
  run: ServerFn<T>,
  describe: (result: T) => EventDetail = () => ({}),
  mayWait = false,
): ServerGen<T> {
  return (yield { op: 'read', label, run, describe: describe as (r: unknown) => EventDetail, mayWait }) as T;
}

export function* write<T>(
  label: string,
  run: ServerFn<T>,
  describe: (result: T) => EventDetail = () => ({}),
  mayWait = false,
): ServerGen<T> {
  return (yield { op: 'write', label, run, describe: describe as (r: unknown) => EventDetail, mayWait }) as T;
}

export function* begin(sql: string, mode: string): ServerGen<void> {
  yield { op: 'begin', sql, mode };
}

export function* commit(): ServerGen<void> {
  yield { op: 'commit' };
}

export function* rollback(): ServerGen<void> {
  yield { op: 'rollback' };
}

export function* think(): ServerGen<void> {
  yield { op: 'think' };
}

export function* acquire(label: string, run: ServerFn<boolean>): ServerGen<void> {
  yield { op: 'acquire', label, run };
}

/** The SQLSTATE of a PostgreSQL error (`40001`, `55P03`, ...), or null. */
export function sqlState(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}
