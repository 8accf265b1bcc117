/**
 * The real engines through the simulator's two doors, against real servers (test/helpers): `oncekey
 * simulate --postgres URL` as a real process (--json, the comparison table with the engine per
 * strategy, usage errors), and the RPC methods the Simulator page calls (`sim.engines` says what is
 * configured, `sim.run` and `sim.compare` run there, a missing URL is the caller's error).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MethodName, Output } from '../shared/rpc';
import { preset, RunSummary, STRATEGIES } from '../shared/sim';
import { Dispatcher, sqliteContext } from '../src-main/rpc/dispatcher';
import { HANDLERS } from '../src-main/rpc/handlers';
import { POSTGRES_URL_ENV, REDIS_URL_ENV } from '../src-main/sim/servers/config';
import { startPostgres, type PostgresServer } from './helpers/postgres';
import { redisSkipReason, startRedis, type RedisServer } from './helpers/redis';
import { openShop } from './helpers/shop';
import { runCli, type CliResult } from './helpers/cli';

const SETUP_MS = 120_000;
const RUN_MS = 120_000;

let pg: PostgresServer;
let redis: RedisServer | null = null;
const redisSkipped = redisSkipReason();
const saved = { pg: process.env[POSTGRES_URL_ENV], redis: process.env[REDIS_URL_ENV] };

beforeAll(async () => {
  // Neither variable from the environment running the tests: each test sets what it needs.
  delete process.env[POSTGRES_URL_ENV];
  delete process.env[REDIS_URL_ENV];
  pg = await startPostgres();
  const started = await startRedis();
  if (!('skipped' in started)) redis = started;
}, SETUP_MS);

afterAll(async () => {
  for (const [name, value] of [
    [POSTGRES_URL_ENV, saved.pg],
    [REDIS_URL_ENV, saved.redis],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await redis?.stop();
  await pg?.stop();
}, SETUP_MS);

const cli = (args: readonly string[], timeoutMs = 90_000): Promise<CliResult> => runCli(['simulate', ...args], { timeoutMs });

describe('oncekey simulate --postgres', () => {
  it(
    '--strategy for-update --json: the article’s SQL sells the one key once, on postgres',
    async () => {
      const { code, stdout, stderr } = await cli(['--postgres', pg.url, '--strategy', 'for-update', '--json']);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const { anomalyDetails, ...out } = JSON.parse(stdout) as Record<string, unknown>;
      const summary = RunSummary.parse(out);
      expect(summary).toMatchObject({ engine: 'postgres', strategy: 'for-update', successes: 1, oversold: 0, declined: 99 });
      expect(anomalyDetails).toEqual([]);
      expect(stdout).not.toContain(new URL(pg.url).password);
    },
    RUN_MS,
  );

  it(
    '--strategy naive picks postgres from the URL and oversells; the text names the engine',
    async () => {
      const { code, stdout } = await cli(['--postgres', pg.url, '--strategy', 'naive', '--buyers', '30']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/strategy naive on postgres, live mode/);
      expect(stdout).toMatch(/oversold: \d+ buyers were told "success" for a stock of 1/);
    },
    RUN_MS,
  );

  it(
    '--compare lists the engine beside every strategy: SQLite’s eight, then PostgreSQL’s four',
    async () => {
      const { code, stdout } = await cli(['--postgres', pg.url, '--compare', '--buyers', '8', '--workers', '1', '--json']);
      expect(code).toBe(0);
      const { engines, rows } = JSON.parse(stdout) as {
        engines: string[];
        rows: { strategy: string; engine: string; successes: number; oversold: number }[];
      };
      expect(engines).toEqual(['sqlite', 'postgres']);
      expect(rows.map((r) => `${r.strategy}@${r.engine}`)).toEqual([
        ...STRATEGIES.map((s) => `${s}@sqlite`),
        'naive@postgres',
        'for-update@postgres',
        'skip-locked@postgres',
        'serializable@postgres',
      ]);
      for (const row of rows.filter((r) => r.engine === 'postgres' && r.strategy !== 'naive'))
        expect(row).toMatchObject({ successes: 1, oversold: 0 });
      expect(rows.find((r) => r.strategy === 'naive' && r.engine === 'postgres')?.oversold).toBeGreaterThan(0);
      const text = await cli(['--postgres', pg.url, '--compare', '--buyers', '10', '--engine', 'postgres']);
      expect(text.stdout).toMatch(/engine\s+strategy\s+sold/);
      expect(text.stdout).toMatch(/postgres\s+for-update\s+1\s+0/);
    },
    RUN_MS * 2,
  );

  it(
    'refuses, in one line with exit code 2, what the engines cannot do',
    async () => {
      const deterministic = await cli(['--postgres', pg.url, '--strategy', 'for-update', '--mode', 'deterministic']);
      expect(deterministic.code).toBe(2);
      expect(deterministic.stderr.trim()).toMatch(/^oncekey simulate: the postgres engine runs live only/);
      const noUrl = await cli(['--strategy', 'skip-locked']);
      expect(noUrl.code).toBe(2);
      expect(noUrl.stderr).toMatch(/needs a PostgreSQL URL \(--postgres or ONCEKEY_SIM_POSTGRES_URL\)/);
      const wrong = await cli(['--postgres', pg.url, '--engine', 'postgres', '--strategy', 'deferred']);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/strategy: this strategy does not run on this engine/);
      const unreachable = await cli(['--postgres', 'postgres://nobody:secret@127.0.0.1:1/none', '--strategy', 'naive']);
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr).toMatch(/cannot connect to PostgreSQL at postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none/);
      expect(unreachable.stderr).not.toContain('secret');
    },
    RUN_MS,
  );
});

describe('sim.* RPC on the real engines', () => {
  async function call<M extends MethodName>(method: M, input: unknown): Promise<Output<M>> {
    const shop = await openShop();
    try {
      const dispatcher = new Dispatcher(HANDLERS, (name, error) => {
        throw new Error(`${name} failed unexpectedly: ${String(error)}`);
      });
      const reply = await dispatcher.dispatch(method, input, sqliteContext(shop.engine, 'test'));
      if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
      return reply.value as Output<M>;
    } finally {
      await shop.cleanup();
    }
  }

  it('sim.engines offers what the environment configures, and only that', async () => {
    delete process.env[POSTGRES_URL_ENV];
    delete process.env[REDIS_URL_ENV];
    expect(await call('sim.engines', {})).toEqual({ engines: ['sqlite'] });
    process.env[POSTGRES_URL_ENV] = pg.url;
    expect(await call('sim.engines', {})).toEqual({ engines: ['sqlite', 'postgres'] });
    process.env[REDIS_URL_ENV] = 'redis://127.0.0.1:6379';
    expect(await call('sim.engines', {})).toEqual({ engines: ['sqlite', 'postgres', 'redis'] });
    delete process.env[POSTGRES_URL_ENV];
    // Redis alone is not an engine: its stock and orders live in PostgreSQL.
    expect(await call('sim.engines', {})).toEqual({ engines: ['sqlite'] });
    delete process.env[REDIS_URL_ENV];
  });

  it(
    'sim.run on postgres with the URL configured; a validation error without it',
    async () => {
      delete process.env[POSTGRES_URL_ENV];
      const scenario = { ...preset('incident'), buyers: 20, engine: 'postgres', strategy: 'skip-locked' };
      await expect(call('sim.run', { scenario, mode: 'live' })).rejects.toMatchObject({ code: 'validation_failed' });
      process.env[POSTGRES_URL_ENV] = pg.url;
      try {
        const result = await call('sim.run', { scenario, mode: 'live' });
        expect(result.summary).toMatchObject({ engine: 'postgres', strategy: 'skip-locked', successes: 1, anomalies: [] });
        await expect(call('sim.run', { scenario, mode: 'deterministic' })).rejects.toMatchObject({ code: 'validation_failed' });
        await expect(call('sim.session.start', { scenario })).rejects.toMatchObject({ code: 'validation_failed' });
      } finally {
        delete process.env[POSTGRES_URL_ENV];
      }
    },
    RUN_MS,
  );

  it.skipIf(redisSkipped !== undefined)(
    `sim.compare over every engine lists the engine beside each strategy${redisSkipped ? ` (skipped: ${redisSkipped})` : ''}`,
    async () => {
      process.env[POSTGRES_URL_ENV] = pg.url;
      process.env[REDIS_URL_ENV] = redis?.url ?? '';
      try {
        const { results } = await call('sim.compare', {
          scenario: { ...preset('incident'), buyers: 12 },
          mode: 'live',
          engines: ['sqlite', 'postgres', 'redis'],
        });
        const byEngine = (engine: string) => results.filter((r) => r.engine === engine).map((r) => r.strategy);
        expect(byEngine('sqlite')).toEqual([...STRATEGIES]);
        expect(byEngine('postgres')).toEqual(['naive', 'for-update', 'skip-locked', 'serializable']);
        expect(byEngine('redis')).toEqual(['naive', 'counter-gate', 'lock-lease', 'four-layers']);
        for (const r of results.filter((r) => r.strategy !== 'naive'))
          expect([r.strategy, r.engine, r.oversold]).toEqual([r.strategy, r.engine, 0]);
      } finally {
        delete process.env[POSTGRES_URL_ENV];
        delete process.env[REDIS_URL_ENV];
      }
    },
    RUN_MS * 2,
  );
});
