/**
 * Which real servers the simulator may use: the PostgreSQL and Redis URLs (from the CLI's --postgres /
 * --redis, else the environment's ONCEKEY_SIM_POSTGRES_URL / ONCEKEY_SIM_REDIS_URL), the engines they make
 * available, and the two errors a run on them can end with. No `pg` or `redis` import here: the app and
 * every SQLite-only run load neither package (servers/runner.ts is imported on first use).
 */
import { ENGINES, type SimEngine } from '../../../shared/sim';
import { parseServerUrl } from '../../lib/urls';

export interface ServerUrls {
  readonly postgres?: string | undefined;
  readonly redis?: string | undefined;
}

export const POSTGRES_URL_ENV = 'ONCEKEY_SIM_POSTGRES_URL';
export const REDIS_URL_ENV = 'ONCEKEY_SIM_REDIS_URL';

/** A scenario the servers cannot run as asked (no URL for its engine, a deterministic run): the caller's to fix. */
export class SimConfigError extends Error {
  override readonly name = 'SimConfigError';
}

/** A configured server could not be reached or refused us; the message names it without its password. */
export class SimServerError extends Error {
  override readonly name = 'SimServerError';
}

const nonEmpty = (value: string | undefined): string | undefined => (value && value.trim() !== '' ? value.trim() : undefined);

export function urlsFromEnv(env: NodeJS.ProcessEnv = process.env): ServerUrls {
  return { postgres: nonEmpty(env[POSTGRES_URL_ENV]), redis: nonEmpty(env[REDIS_URL_ENV]) };
}

/** `sqlite` always; `postgres` with a PostgreSQL URL; `redis` with both (Redis keeps the gate, PostgreSQL the orders). */
export function availableEngines(urls: ServerUrls): SimEngine[] {
  return ENGINES.filter((engine) => missingFor(engine, urls) === null);
}

/** Why `engine` cannot run with these URLs, or null when it can. */
export function missingFor(engine: SimEngine, urls: ServerUrls): string | null {
  const pg = nonEmpty(urls.postgres) !== undefined;
  const redis = nonEmpty(urls.redis) !== undefined;
  if (engine === 'postgres' && !pg) return `the postgres engine needs a PostgreSQL URL (--postgres or ${POSTGRES_URL_ENV})`;
  if (engine === 'redis' && !(pg && redis))
    return `the redis engine needs a Redis URL and a PostgreSQL URL beside it, for the stock and the orders (--redis and --postgres, or ${REDIS_URL_ENV} and ${POSTGRES_URL_ENV})`;
  return null;
}

export function checkUrl(url: string, kind: 'postgres' | 'redis'): void {
  let parsed: URL;
  try {
    parsed = parseServerUrl(url);
  } catch {
    throw new SimConfigError(`the ${kind} URL is not a URL`);
  }
  const schemes = kind === 'postgres' ? ['postgres:', 'postgresql:'] : ['redis:', 'rediss:'];
  if (!schemes.includes(parsed.protocol))
    throw new SimConfigError(`the ${kind} URL must start with ${schemes.map((s) => `${s}//`).join(' or ')}`);
}
