/**
 * One run's scratch data on the real servers, and the connections to it. PostgreSQL: a schema of its
 * own, `oncekey_sim_<random>`, holding `virtual_items` (the article's table: the scenario's item with
 * its stock), `codes` (one row per unit, the codes sold), `orders`, `idempotency` and `stock_cache`;
 * every connection's search_path is that schema, so the article's SQL runs unqualified. Redis: keys
 * under the prefix `oncekey_sim_<random>:` (the article's `item_stock:<item>` counter, the stock cache,
 * the lock). `drop()` removes the schema and exactly those keys, and nothing else.
 *
 * Like SQLite's scratch file, deliberately without the shop's protections (no UNIQUE code per order):
 * the point is to show what each strategy alone allows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createClient } from 'redis';
import type { FinalState, Scenario } from '../../../shared/sim';
import { ITEM_ID } from '../schema';
import { itemStockKey } from './article';
import { lockKey, stockCacheKey } from './blocks';
import { redactUrl } from '../../lib/urls';
import { SimServerError, type ServerUrls } from './config';
import type { Conns, RedisClient, ScratchNames } from './program';

export interface ConnectLimits {
  /** PostgreSQL's lock_timeout for the buyers' sessions: no statement waits for a lock longer. */
  readonly lockTimeoutMs: number;
  /** statement_timeout, and the longest a connection may take to open. */
  readonly statementTimeoutMs: number;
}

export interface Scratch {
  readonly names: ScratchNames;
  /** One buyer's connections (its own PostgreSQL session, and its own Redis client on the redis engine). */
  connect(): Promise<Conns>;
  final(): Promise<FinalState>;
  /** Drops the schema and the keys and closes the admin connections. Safe to call twice. */
  drop(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 10_000;

export function scratchNames(): ScratchNames {
  const schema = `oncekey_sim_${randomBytes(6).toString('hex')}`;
  return { schema, keyPrefix: `${schema}:` };
}

function pgClient(url: string, names: ScratchNames, limits: ConnectLimits): pg.Client {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'oncekey-simulator',
    // The schema name is ours ([a-z0-9_] only). The timeouts bound every wait: a run cannot hang on a lock.
    options: `-c search_path=${names.schema} -c lock_timeout=${Math.round(limits.lockTimeoutMs)} -c statement_timeout=${Math.round(limits.statementTimeoutMs)} -c idle_in_transaction_session_timeout=${Math.round(limits.statementTimeoutMs * 2)}`,
  });
  // A session the server ends (a restart, the end of a run) errors on the client; without a listener that ends the process.
  client.on('error', () => undefined);
  return client;
}

async function connectPg(url: string, names: ScratchNames, limits: ConnectLimits): Promise<pg.Client> {
  const client = pgClient(url, names, limits);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new SimServerError(`cannot connect to PostgreSQL at ${redactUrl(url)}: ${(error as Error).message}`);
  }
  return client;
}

async function connectRedis(url: string): Promise<RedisClient> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: CONNECT_TIMEOUT_MS } });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    if (client.isOpen) client.destroy();
    throw new SimServerError(`cannot connect to Redis at ${redactUrl(url)}: ${(error as Error).message}`);
  }
  return client;
}

function closeRedis(client: RedisClient | null): void {
  if (client?.isOpen) client.destroy();
}

export async function endConns(conns: Conns): Promise<void> {
  closeRedis(conns.redis);
  await conns.pg.end().catch(() => undefined);
}

const SCHEMA_SQL = `
CREATE TABLE virtual_items (item_id integer PRIMARY KEY, stock integer NOT NULL, version integer NOT NULL DEFAULT 0);
CREATE TABLE codes (id integer PRIMARY KEY, item_id integer NOT NULL, status text NOT NULL DEFAULT 'available', order_id integer);
CREATE TABLE orders (id serial PRIMARY KEY, item_id integer NOT NULL, buyer integer NOT NULL, attempt integer NOT NULL, key_id integer, token text);
CREATE TABLE idempotency (token text PRIMARY KEY, order_id integer NOT NULL);
CREATE TABLE stock_cache (item_id integer PRIMARY KEY, stock integer NOT NULL, refreshed_at bigint NOT NULL);
`;

/** Creates the schema (and, on the redis engine, the counter) for `scenario` and returns its handle. */
export async function createScratch(scenario: Scenario, urls: ServerUrls, limits: ConnectLimits): Promise<Scratch> {
  const pgUrl = urls.postgres;
  if (pgUrl === undefined) throw new SimServerError('no PostgreSQL URL');
  const redisUrl = scenario.engine === 'redis' ? urls.redis : undefined;
  const names = scratchNames();
  const admin = await connectPg(pgUrl, names, limits);
  let redis: RedisClient | null = null;
  let dropped = false;
  const redisKeys = [itemStockKey(names.keyPrefix, ITEM_ID), stockCacheKey(names.keyPrefix), lockKey(names.keyPrefix)];

  const drop = async (): Promise<void> => {
    if (dropped) return;
    dropped = true;
    try {
      await admin.query(`DROP SCHEMA IF EXISTS ${names.schema} CASCADE`);
      if (redis?.isOpen) await redis.del(redisKeys);
    } finally {
      closeRedis(redis);
      await admin.end().catch(() => undefined);
    }
  };

  try {
    await admin.query(`CREATE SCHEMA ${names.schema}`);
    await admin.query(SCHEMA_SQL);
    await admin.query('INSERT INTO virtual_items (item_id, stock) VALUES ($1, $2)', [ITEM_ID, scenario.keys]);
    await admin.query('INSERT INTO codes (id, item_id) SELECT g, $1 FROM generate_series(1, $2::integer) AS g', [
      ITEM_ID,
      scenario.keys,
    ]);
    if (redisUrl !== undefined) {
      redis = await connectRedis(redisUrl);
      // The counter layer 2 decrements starts at the stock, as a shop would load it before a sale.
      await redis.set(itemStockKey(names.keyPrefix, ITEM_ID), String(scenario.keys));
    }
  } catch (error) {
    await drop().catch(() => undefined);
    if (error instanceof SimServerError) throw error;
    throw new SimServerError(
      `cannot set up the scratch schema on PostgreSQL at ${redactUrl(pgUrl)}: ${(error as Error).message}`,
    );
  }

  return {
    names,
    async connect() {
      const client = await connectPg(pgUrl, names, limits);
      if (redisUrl === undefined) return { pg: client, redis: null, names };
      try {
        return { pg: client, redis: await connectRedis(redisUrl), names };
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
    },
    async final() {
      const stock = (await admin.query<{ stock: number }>('SELECT stock FROM virtual_items WHERE item_id = $1', [ITEM_ID]))
        .rows[0];
      const sold = (await admin.query<{ n: number }>("SELECT count(*)::integer AS n FROM codes WHERE status = 'sold'")).rows[0];
      const orders = (
        await admin.query<FinalState['orders'][number]>(
          'SELECT id, buyer, attempt, key_id AS "keyId", token FROM orders ORDER BY id',
        )
      ).rows;
      const counter = redis === null ? null : await redis.get(itemStockKey(names.keyPrefix, ITEM_ID));
      return {
        stock: stock?.stock ?? 0,
        counter: counter === null ? null : Number(counter),
        keysSold: sold?.n ?? 0,
        orders,
      };
    },
    drop,
  };
}
