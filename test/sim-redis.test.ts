/**
 * The simulator's redis engine on a real Redis beside a real PostgreSQL (test/helpers, never mocks;
 * skipped, saying why, where redis-server is not installed): the article's Lua script, run with EVAL,
 * lets 100 buyers take the one unit once; a stock cache with a TTL shows stock the database no longer
 * has (a stale read); the expiring lock protects the sale while its TTL outlasts the think time, and
 * does not when it is shorter (the article's lesson); the four layers together hold even then; the run's
 * keys are gone afterwards and nothing else in Redis is touched.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preset, type RunResult, type Scenario } from '../shared/sim';
import { runScenario } from '../src-main/sim';
import { LAYER2_LUA } from '../src-main/sim/servers/article';
import { startPostgres, type PostgresServer } from './helpers/postgres';
import { redisSkipReason, startRedis, type RedisServer } from './helpers/redis';

const SETUP_MS = 120_000;
const RUN_MS = 90_000;
const skipped = redisSkipReason();
if (skipped) console.warn(`simulator Redis tests skipped: ${skipped}`);

describe.skipIf(skipped !== undefined)(
  `the simulator on Redis beside PostgreSQL${skipped ? ` (skipped: ${skipped})` : ''}`,
  () => {
    let pg: PostgresServer;
    let redis: RedisServer;
    let client: ReturnType<typeof createClient>;

    beforeAll(async () => {
      const [startedPg, startedRedis] = await Promise.all([startPostgres(), startRedis()]);
      pg = startedPg;
      if ('skipped' in startedRedis) throw new Error(startedRedis.skipped);
      redis = startedRedis;
      client = createClient({ url: redis.url });
      client.on('error', () => undefined);
      await client.connect();
      await client.set('bystander:item_stock:1', '7');
    }, SETUP_MS);

    afterAll(async () => {
      if (client?.isOpen) client.destroy();
      await redis?.stop();
      await pg?.stop();
    }, SETUP_MS);

    const incident = (patch: Partial<Scenario>): Scenario => ({ ...preset('incident'), engine: 'redis', ...patch });
    const run = (scenario: Scenario): Promise<RunResult> =>
      runScenario(scenario, 'live', { servers: { postgres: pg.url, redis: redis.url } });

    it('runs the article’s Lua script as the original prints it', () => {
      const original = `
    local stock = redis.call('get', KEYS[1])
    if stock and tonumber(stock) > 0 then
        return redis.call('decr', KEYS[1])
    else
        return -1
    end
    `;
      const unindent = (text: string) =>
        text
          .trim()
          .split('\n')
          .map((line) => line.replace(/^ {4}/, ''))
          .join('\n');
      expect(LAYER2_LUA).toBe(unindent(original));
    });

    it(
      'counter-gate: EVAL of the Lua script lets 100 buyers take 1 unit exactly once',
      async () => {
        const result = await run(incident({ strategy: 'counter-gate' }));
        const s = result.summary;
        expect(s).toMatchObject({ engine: 'redis', successes: 1, oversold: 0, declined: 99, errors: 0, anomalies: [] });
        const gate = result.history.events.filter((e) => e.step === 'write' && e.detail.field === 'counter');
        expect(gate.filter((e) => e.detail.changed === 1)).toHaveLength(1);
        expect(gate.filter((e) => e.detail.eval === -1)).toHaveLength(99);
        expect(result.history.final).toMatchObject({ stock: 0, counter: 0, keysSold: 1 });
      },
      RUN_MS,
    );

    it(
      'naive with a stock cache in Redis (TTL 10 s): buyers read stock the database no longer has',
      async () => {
        const result = await run({ ...preset('stale-cache'), engine: 'redis', keys: 1 });
        expect(result.summary.anomalies).toEqual(expect.arrayContaining(['stale_read', 'oversold']));
        const stale = result.anomalies.filter((a) => a.name === 'stale_read');
        expect(stale.length).toBeGreaterThan(0);
        expect(stale[0]?.message.en).toMatch(/checked a cached stock of 1 while the database already held 0/);
        const cacheReads = result.history.events.filter((e) => e.step === 'read' && e.detail.source === 'cache');
        // The first buyer fills the cache; the rest arrive 20 ms apart, well inside its 10 s.
        expect(cacheReads.length).toBeGreaterThanOrEqual(result.summary.buyers - 2);
      },
      RUN_MS,
    );

    it(
      'lock-lease: SET NX PX with a TTL longer than the think time sells the unit once',
      async () => {
        const result = await run(incident({ strategy: 'lock-lease', buyers: 40, leaseTtlMs: 5_000 }));
        expect(result.summary).toMatchObject({ successes: 1, oversold: 0, errors: 0, anomalies: [] });
        const waits = result.history.events.filter((e) => e.step === 'lock_wait' && e.detail.on === 'lock');
        expect(waits.length).toBeGreaterThan(0);
        const releases = result.history.events.filter((e) => e.step === 'write' && 'released' in e.detail);
        expect(releases).toHaveLength(40);
        expect(releases.every((e) => e.detail.released === 1)).toBe(true);
      },
      RUN_MS,
    );

    it(
      'lock-lease: a TTL shorter than the think time lets a second buyer in (the article’s lesson)',
      async () => {
        const result = await run(incident({ strategy: 'lock-lease', buyers: 40, leaseTtlMs: 30 }));
        const s = result.summary;
        expect(s.successes).toBeGreaterThan(1);
        expect(s.anomalies).toEqual(expect.arrayContaining(['oversold', 'key_sold_twice', 'lost_update']));
        // The first buyer's lock had expired and been taken: its compare-and-delete released nothing.
        const releases = result.history.events.filter((e) => e.step === 'write' && 'released' in e.detail);
        expect(releases.some((e) => e.detail.released === 0)).toBe(true);
      },
      RUN_MS,
    );

    it(
      'four-layers: the same short TTL, and the Lua gate and the FOR UPDATE transaction still sell once',
      async () => {
        const result = await run(incident({ strategy: 'four-layers', buyers: 40, leaseTtlMs: 30 }));
        expect(result.summary).toMatchObject({ successes: 1, oversold: 0, anomalies: [] });
        expect(result.history.final).toMatchObject({ stock: 0, counter: 0, keysSold: 1 });
      },
      RUN_MS,
    );

    it('deletes exactly its own keys after every run', async () => {
      expect(await client.keys('oncekey_sim_*')).toEqual([]);
      expect(await client.get('bystander:item_stock:1')).toBe('7');
    });
  },
);
