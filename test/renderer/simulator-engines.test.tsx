/**
 * The Simulator page's engine choice against a fake transport: with nothing configured (or a main
 * process that predates `sim.engines`) there is no choice, only one line saying how to get PostgreSQL
 * and Redis, in English and Chinese; with PostgreSQL configured the choice appears, offers the
 * strategies that run there, runs live only and sends the engine; the comparison asks for every engine
 * offered and shows the engine beside each strategy, with the article's before/after table per engine.
 */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { preset, STRATEGIES, type RunResult, type RunSummary, type SimEngine, type StrategyName } from '../../shared/sim';
import { i18n } from '../../src-renderer/i18n';
import { renderSimulator as setup, runSummary, simulatorPageHooks, text } from './simulator-page';

simulatorPageHooks();

const options = (select: HTMLElement): string[] =>
  within(select)
    .getAllByRole('option')
    .map((o) => (o as HTMLOptionElement).value);

/** A run of the incident (100 buyers, one key, one sold) with `strategy` on `engine`. */
const summary = (strategy: StrategyName, engine: SimEngine, patch: Partial<RunSummary> = {}): RunSummary =>
  runSummary(strategy, { engine, buyers: 100, declined: 99, ...patch });

function result(engine: SimEngine, strategy: StrategyName): RunResult {
  const scenario = { ...preset('incident'), engine, strategy };
  return {
    summary: summary(strategy, engine),
    anomalies: [],
    history: {
      version: 1,
      mode: 'live',
      timeUnit: 'us',
      scenario,
      initialStock: 1,
      events: [
        { i: 0, buyer: 0, attempt: 1, step: 'invoke', t: 0, detail: {} },
        { i: 1, buyer: 0, attempt: 1, step: 'ok', t: 900, detail: { orderId: 1, keyId: 1 } },
      ],
      final: { stock: 0, counter: null, keysSold: 1, orders: [{ id: 1, buyer: 0, attempt: 1, keyId: 1, token: null }] },
    },
  };
}

describe('Simulator page: engines', () => {
  it('offers no engine choice when nothing is configured, and says in one line how to get one', async () => {
    const transport = setup({ 'sim.engines': () => ({ engines: ['sqlite'] }) });
    const hint = await screen.findByTestId('sim-engine-hint');
    expect(text(hint)).toBe(
      'PostgreSQL and Redis engines: install PostgreSQL / redis-server and set ONCEKEY_SIM_POSTGRES_URL / ONCEKEY_SIM_REDIS_URL, then restart OnceKey.',
    );
    expect(transport.calls.some((c) => c.method === 'sim.engines')).toBe(true);
    expect(screen.queryByTestId('sim-engine')).toBeNull();
    expect(options(screen.getByTestId('sim-strategy'))).toEqual([...STRATEGIES]);
    await i18n.changeLanguage('zh-CN');
    await waitFor(() =>
      expect(text(screen.getByTestId('sim-engine-hint'))).toMatch(/^PostgreSQL 和 Redis 引擎：安装 PostgreSQL/),
    );
  });

  it('a main process without sim.engines is SQLite only (the app needs no server)', async () => {
    setup({});
    expect(text(await screen.findByTestId('sim-engine-hint'))).toMatch(/ONCEKEY_SIM_POSTGRES_URL/);
    expect(screen.queryByTestId('sim-engine')).toBeNull();
  });

  it('with PostgreSQL configured: the choice appears, offers its strategies, runs live only and sends the engine', async () => {
    const transport = setup({
      'sim.engines': () => ({ engines: ['sqlite', 'postgres'] }),
      'sim.run': (input) => result(input.scenario.engine ?? 'sqlite', input.scenario.strategy),
    });
    const engine = await screen.findByTestId('sim-engine');
    expect(options(engine)).toEqual(['sqlite', 'postgres']);
    // Redis is still missing: the line says how to add it.
    expect(text(screen.getByTestId('sim-engine-hint'))).toBe(
      'Redis engine: install redis-server and set ONCEKEY_SIM_REDIS_URL, then restart OnceKey.',
    );
    await userEvent.selectOptions(screen.getByTestId('sim-mode'), 'deterministic');
    await userEvent.selectOptions(engine, 'postgres');
    expect(options(screen.getByTestId('sim-strategy'))).toEqual(['naive', 'for-update', 'skip-locked', 'serializable']);
    expect(screen.getByTestId<HTMLSelectElement>('sim-strategy').value).toBe('naive');
    const mode = screen.getByTestId<HTMLSelectElement>('sim-mode');
    expect([mode.value, mode.disabled]).toEqual(['live', true]);
    expect(screen.getByText('PostgreSQL and Redis run live only.')).toBeTruthy();
    expect(screen.getByTestId<HTMLButtonElement>('sim-step').disabled).toBe(true);
    await userEvent.selectOptions(screen.getByTestId('sim-strategy'), 'for-update');
    await userEvent.click(screen.getByTestId('sim-run'));
    await waitFor(() =>
      expect(text(screen.getByTestId('sim-summary-line'))).toMatch(
        /^for-update · Live .* · PostgreSQL \(scratch schema\) · 100 \/ 1$/,
      ),
    );
    expect(transport.calls.find((c) => c.method === 'sim.run')?.input).toMatchObject({
      mode: 'live',
      scenario: { engine: 'postgres', strategy: 'for-update' },
    });
    // A preset keeps the engine where its strategy runs there, and falls back where it does not.
    await userEvent.click(screen.getByTestId('sim-preset-incident'));
    expect(screen.getByTestId<HTMLSelectElement>('sim-engine').value).toBe('postgres');
    await userEvent.click(screen.getByTestId('sim-preset-four-layers'));
    expect(screen.getByTestId<HTMLSelectElement>('sim-engine').value).toBe('sqlite');
    expect(screen.getByTestId<HTMLButtonElement>('sim-step').disabled).toBe(false);
  });

  it('with both servers: no hint, Redis offers its strategies; Compare asks for every engine and lists them', async () => {
    const transport = setup({
      'sim.engines': () => ({ engines: ['sqlite', 'postgres', 'redis'] }),
      'sim.compare': () => ({
        results: [
          summary('naive', 'sqlite', { successes: 100, oversold: 99, declined: 0 }),
          summary('four-layers', 'sqlite'),
          summary('naive', 'postgres', { successes: 32, oversold: 31, declined: 68 }),
          summary('for-update', 'postgres'),
          summary('naive', 'redis', { successes: 32, oversold: 31, declined: 68 }),
          summary('counter-gate', 'redis'),
          summary('four-layers', 'redis', { latencyMs: { p50: 120, p99: 150, mean: 120, max: 160 } }),
        ],
      }),
    });
    const engine = await screen.findByTestId('sim-engine');
    await waitFor(() => expect(options(engine)).toEqual(['sqlite', 'postgres', 'redis']));
    expect(screen.queryByTestId('sim-engine-hint')).toBeNull();
    await userEvent.selectOptions(engine, 'redis');
    expect(options(screen.getByTestId('sim-strategy'))).toEqual(['naive', 'counter-gate', 'lock-lease', 'four-layers']);
    // On Redis the gate is the article's Lua script itself, not SQLite's imitation of it: its name says so.
    expect(within(screen.getByTestId('sim-strategy')).getByRole('option', { name: /counter-gate/ }).textContent).toBe(
      'counter-gate: the article’s Lua script (EVAL)',
    );
    await userEvent.click(screen.getByTestId('sim-compare'));
    const table = await screen.findByTestId('sim-compare-table');
    expect(transport.calls.find((c) => c.method === 'sim.compare')?.input).toMatchObject({
      mode: 'live',
      engines: ['sqlite', 'postgres', 'redis'],
    });
    const rows = within(table).getAllByRole('row');
    expect(text(rows[0])).toMatch(/^StrategySoldOversold/);
    expect(
      rows.slice(1).map((row) => {
        const head = within(row).getByRole('rowheader');
        return `${within(head).getByTestId('sim-compare-engine').textContent}/${head.firstChild?.textContent ?? ''}`;
      }),
    ).toEqual([
      'sqlite/naive',
      'sqlite/four-layers',
      'postgres/naive',
      'postgres/for-update',
      'redis/naive',
      'redis/counter-gate',
      'redis/four-layers',
    ]);
    // The article's before/after, on each engine that ran both the naive code and the four layers.
    expect(text(screen.getByTestId('sim-before-after'))).toMatch(/Oversell rate.*99\.0%.*0\.0%.*-100\.0%/);
    expect(text(screen.getByTestId('sim-before-after-redis'))).toMatch(/Oversell rate.*96\.9%.*0\.0%.*-100\.0%/);
    expect(screen.getByText('Before and after, as in the article, on Redis + PostgreSQL')).toBeTruthy();
  });
});
