/**
 * The test servers are real (issue 20, "Past one PC": the shop gets a PostgreSQL backend and Redis
 * later, and their tests run against real servers, never mocks). On a throw-away PostgreSQL from
 * test/helpers/postgres.ts: row locks that SKIP LOCKED really skips, and a duplicate surfaces as
 * SQLSTATE 23505. On a throw-away Redis from test/helpers/redis.ts: a Lua script runs atomically, so a
 * hundred concurrent decrements of a stock of 1 sell it once.
 */
import { existsSync } from 'node:fs';
import { Client, DatabaseError } from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresServer } from './helpers/postgres';
import { redisSkipReason, startRedis, type RedisServer } from './helpers/redis';

const SETUP_MS = 120_000;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a real PostgreSQL server', () => {
  let pg: PostgresServer;
  const clients: Client[] = [];

  async function connect(): Promise<Client> {
    const client = new Client({ connectionString: pg.url });
    clients.push(client);
    await client.connect();
    return client;
  }

  beforeAll(async () => {
    const started = Date.now();
    pg = await startPostgres();
    console.log(`PostgreSQL from ${pg.source} (${pg.binDir}) started in ${Date.now() - started} ms`);
    const setup = await connect();
    await setup.query(`CREATE TABLE stock_keys (
      id integer PRIMARY KEY,
      code text NOT NULL CONSTRAINT stock_keys_code_unique UNIQUE,
      sold boolean NOT NULL DEFAULT false
    )`);
    await setup.query(`INSERT INTO stock_keys (id, code) VALUES (1, 'KEY-1'), (2, 'KEY-2'), (3, 'KEY-3')`);
  }, SETUP_MS);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
    if (!pg) return;
    await pg.stop();
    expect(existsSync(pg.dir)).toBe(false);
    expect(isRunning(pg.pid)).toBe(false);
  }, SETUP_MS);

  it('listens on 127.0.0.1 only, through the URL it handed back', async () => {
    const client = await connect();
    const { rows } = await client.query<{ listen: string; db: string; version: string }>(
      `SELECT current_setting('listen_addresses') AS listen, current_database() AS db, current_setting('server_version') AS version`,
    );
    expect(rows[0]).toMatchObject({ listen: '127.0.0.1', db: 'oncekey_test' });
    expect(new URL(pg.url).hostname).toBe('127.0.0.1');
  });

  it('FOR UPDATE SKIP LOCKED skips the row another connection holds and takes the next one', async () => {
    const holder = await connect();
    const other = await connect();
    await holder.query('BEGIN');
    await other.query('BEGIN');
    try {
      const held = await holder.query<{ id: number }>('SELECT id FROM stock_keys WHERE NOT sold ORDER BY id LIMIT 1 FOR UPDATE');
      expect(held.rows).toEqual([{ id: 1 }]);

      const skipped = await other.query<{ id: number }>(
        'SELECT id FROM stock_keys WHERE NOT sold ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED',
      );
      expect(skipped.rows).toEqual([{ id: 2 }]);

      // The lock is real: without SKIP LOCKED the same row cannot be had.
      const waited = await other
        .query('SELECT id FROM stock_keys WHERE id = 1 FOR UPDATE NOWAIT')
        .catch((error: unknown) => error);
      expect(waited).toBeInstanceOf(DatabaseError);
      expect((waited as DatabaseError).code).toBe('55P03'); // lock_not_available
    } finally {
      await holder.query('ROLLBACK');
      await other.query('ROLLBACK');
    }
  });

  it('a unique-constraint violation surfaces as SQLSTATE 23505', async () => {
    const client = await connect();
    const duplicate = await client
      .query(`INSERT INTO stock_keys (id, code) VALUES (4, 'KEY-1')`)
      .catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(DatabaseError);
    expect(duplicate).toMatchObject({ code: '23505', constraint: 'stock_keys_code_unique' });
  });
});

const redisSkipped = redisSkipReason();
if (redisSkipped) console.warn(`Redis tests skipped: ${redisSkipped}`);

describe.skipIf(redisSkipped !== undefined)(`a real Redis server${redisSkipped ? ` (skipped: ${redisSkipped})` : ''}`, () => {
  let redis: RedisServer;
  const newClient = () => createClient({ url: redis.url });
  const clients: ReturnType<typeof newClient>[] = [];

  beforeAll(async () => {
    const started = await startRedis();
    if ('skipped' in started) throw new Error(started.skipped);
    redis = started;
  }, SETUP_MS);

  afterAll(async () => {
    for (const client of clients) if (client.isOpen) client.destroy();
    if (!redis) return;
    await redis.stop();
    expect(existsSync(redis.dir)).toBe(false);
    expect(isRunning(redis.pid)).toBe(false);
  }, SETUP_MS);

  // Decrements only while the stock is above zero; 1 for a sale, 0 for sold out.
  const TAKE_ONE = `
    local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
    if stock > 0 then
      redis.call('DECR', KEYS[1])
      return 1
    end
    return 0`;

  it('a Lua decrement run 100 times at once against a stock of 1 succeeds exactly once', async () => {
    for (let i = 0; i < 10; i++) {
      const client = newClient();
      clients.push(client);
      await client.connect();
    }
    const [first] = clients;
    await first!.set('stock:prd_1', '1');

    // Ten connections, ten scripts in flight on each, all sent before any answer is read.
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => clients[i % clients.length]!.eval(TAKE_ONE, { keys: ['stock:prd_1'] })),
    );

    expect(results.filter((result) => result === 1)).toHaveLength(1);
    expect(results.filter((result) => result === 0)).toHaveLength(99);
    expect(await first!.get('stock:prd_1')).toBe('0');
  });

  it('binds 127.0.0.1 and keeps nothing on disk', async () => {
    const client = newClient();
    clients.push(client);
    await client.connect();
    expect(await client.configGet(['bind', 'save', 'appendonly'])).toMatchObject({
      bind: '127.0.0.1',
      save: '',
      appendonly: 'no',
    });
  });
});
