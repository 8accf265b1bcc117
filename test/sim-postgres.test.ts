/**
 * The simulator on a real PostgreSQL (test/helpers/postgres.ts, never a mock): the naive code oversells
 * there too and the checker names it the same way as on SQLite; the article's layer-1 SQL (word for
 * word), SKIP LOCKED and SERIALIZABLE-with-retry sell the one unit exactly once to 100 buyers; the
 * scratch schema is the run's own and is gone afterwards, and nothing else in the database is touched.
 */
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preset, Scenario, type HistoryEvent, type RunResult } from '../shared/sim';
import { runScenario } from '../src-main/sim';
import { LAYER1 } from '../src-main/sim/servers/article';
import { SimConfigError } from '../src-main/sim/servers/config';
import { startPostgres, type PostgresServer } from './helpers/postgres';

const SETUP_MS = 120_000;
const RUN_MS = 90_000;

let pg: PostgresServer;
let admin: Client;

beforeAll(async () => {
  pg = await startPostgres();
  admin = new Client({ connectionString: pg.url });
  await admin.connect();
  // Someone else's data in the same database: no run may touch it.
  await admin.query('CREATE TABLE public.bystander (id integer PRIMARY KEY, stock integer NOT NULL)');
  await admin.query('INSERT INTO public.bystander VALUES (123, 7)');
}, SETUP_MS);

afterAll(async () => {
  await admin?.end().catch(() => undefined);
  await pg?.stop();
}, SETUP_MS);

const incident = (patch: Partial<Scenario>): Scenario => ({ ...preset('incident'), engine: 'postgres', ...patch });
const run = (scenario: Scenario): Promise<RunResult> => runScenario(scenario, 'live', { servers: { postgres: pg.url } });

async function scratchSchemas(): Promise<string[]> {
  const { rows } = await admin.query<{ name: string }>(
    "SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'oncekey_sim_%'",
  );
  return rows.map((r) => r.name);
}

function outcomes(result: RunResult): number {
  const s = result.summary;
  return s.successes + s.declined + s.errors + s.unknown;
}

describe('the simulator on PostgreSQL', () => {
  it('runs the article’s layer-1 statements word for word (123 is the scenario’s item, bound as $1)', () => {
    // The Chinese original, its line breaks folded (000_5b067ced6d4795a7.txt, 第一层:数据库锁机制).
    const article = `BEGIN TRANSACTION;
SELECT * FROM virtual_items 
WHERE item_id = 123 AND stock > 0 
FOR UPDATE;
UPDATE virtual_items SET stock = stock - 1 
WHERE item_id = 123 AND stock > 0;
COMMIT;`;
    const ours = [LAYER1.begin, LAYER1.select, LAYER1.update, LAYER1.commit].map((sql) => `${sql.replaceAll('$1', '123')};`);
    expect(ours.join(' ')).toBe(article.replace(/\s*\n\s*/g, ' '));
  });

  it(
    'naive: 100 buyers, 1 unit, 32 connections: many are told "success", and the checker says so',
    async () => {
      const result = await run(incident({ strategy: 'naive' }));
      const s = result.summary;
      expect(s).toMatchObject({ engine: 'postgres', strategy: 'naive', buyers: 100, keys: 1 });
      expect(outcomes(result)).toBe(100);
      expect(s.successes).toBeGreaterThan(1);
      expect(s.oversold).toBe(s.successes - 1);
      expect(s.anomalies).toEqual(expect.arrayContaining(['oversold', 'key_sold_twice', 'lost_update']));
      const oversold = result.anomalies.find((a) => a.name === 'oversold');
      expect(oversold?.message.en).toContain(`${s.successes} buyers were told "success" for a stock of 1`);
      // The database holds what happened: one code, many orders for it, the stock written 1 -> 0 many times.
      expect(result.history.final.orders.length).toBe(s.successes);
      expect(new Set(result.history.final.orders.map((o) => o.keyId))).toEqual(new Set([1]));
      expect(result.history.final.stock).toBe(0);
      const writes = result.history.events.filter((e) => e.step === 'write' && e.detail.field === 'stock');
      expect(writes.every((e) => e.detail.autocommit === true && e.detail.from === 1)).toBe(true);
    },
    RUN_MS,
  );

  it.each(['for-update', 'skip-locked', 'serializable'] as const)(
    '%s: 100 buyers, 1 unit: exactly one sale, no anomaly',
    async (strategy) => {
      const result = await run(incident({ strategy }));
      const s = result.summary;
      expect(outcomes(result)).toBe(100);
      expect({ successes: s.successes, oversold: s.oversold, errors: s.errors, anomalies: s.anomalies }).toEqual({
        successes: 1,
        oversold: 0,
        errors: 0,
        anomalies: [],
      });
      expect(s.declined).toBe(99);
      expect(result.history.final).toMatchObject({ stock: 0, keysSold: 1 });
      expect(result.history.final.orders).toHaveLength(1);
    },
    RUN_MS,
  );

  it(
    'for-update: the buyers after the first wait for the row lock, then find no stock',
    async () => {
      const result = await run(incident({ strategy: 'for-update', buyers: 20 }));
      const waits = result.history.events.filter((e) => e.step === 'lock_wait' && e.detail.on === 'row lock');
      expect(waits.length).toBeGreaterThan(0);
      const emptyReads = result.history.events.filter((e) => e.step === 'read' && e.detail.rows === 0);
      expect(emptyReads).toHaveLength(19);
    },
    RUN_MS,
  );

  it(
    'serializable: the losers fail with SQLSTATE 40001, roll back and retry (and then see the stock gone)',
    async () => {
      const result = await run(incident({ strategy: 'serializable', buyers: 30 }));
      const failed = result.history.events.filter((e: HistoryEvent) => e.detail.error === '40001');
      expect(failed.length).toBeGreaterThan(0);
      const retries = result.history.events.filter((e) => e.step === 'read' && e.detail.try === 2);
      expect(retries.length).toBeGreaterThan(0);
      expect(retries.some((e) => e.detail.stock === 0)).toBe(true);
      expect(result.summary).toMatchObject({ successes: 1, anomalies: [] });
    },
    RUN_MS,
  );

  it(
    '40 buyers, 5 units: each sells exactly its stock, every unit a different code',
    async () => {
      for (const strategy of ['for-update', 'skip-locked', 'serializable'] as const) {
        const result = await run(incident({ strategy, buyers: 40, keys: 5, think: { kind: 'uniform', ms: 5, maxMs: 30 } }));
        expect({ strategy, sold: result.summary.successes, anomalies: result.summary.anomalies }).toEqual({
          strategy,
          sold: 5,
          anomalies: [],
        });
        expect(new Set(result.history.final.orders.map((o) => o.keyId)).size).toBe(5);
      }
    },
    RUN_MS,
  );

  it(
    'the stock cache (a table on this engine) shows stock the database no longer has: a stale read',
    async () => {
      const result = await run({ ...preset('stale-cache'), engine: 'postgres', keys: 1 });
      expect(result.summary.anomalies).toContain('stale_read');
      const stale = result.anomalies.find((a) => a.name === 'stale_read');
      expect(stale?.message.en).toMatch(/checked a cached stock of 1 while the database already held 0/);
    },
    RUN_MS,
  );

  it('drops its scratch schema after every run and leaves the rest of the database alone', async () => {
    expect(await scratchSchemas()).toEqual([]);
    const { rows } = await admin.query<{ id: number; stock: number }>('SELECT id, stock FROM public.bystander');
    expect(rows).toEqual([{ id: 123, stock: 7 }]);
    const { rows: sessions } = await admin.query<{ n: number }>(
      "SELECT count(*)::integer AS n FROM pg_stat_activity WHERE application_name = 'oncekey-simulator'",
    );
    expect(sessions[0]?.n).toBe(0);
  });

  it('refuses what it cannot run: no URL, a deterministic run, a strategy not written for the engine', async () => {
    await expect(runScenario(incident({ strategy: 'naive' }), 'live')).rejects.toBeInstanceOf(SimConfigError);
    await expect(
      runScenario(incident({ strategy: 'naive' }), 'deterministic', { servers: { postgres: pg.url } }),
    ).rejects.toThrow(/live only/);
    expect(Scenario.safeParse(incident({ strategy: 'deferred' })).error?.issues[0]?.message).toMatch(
      /does not run on this engine/,
    );
    await expect(run(incident({ strategy: 'deferred' }))).rejects.toThrow(/does not run on postgres/);
  });
});
