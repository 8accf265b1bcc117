/**
 * The Simulator page against a fake transport: a preset fills the form, Run shows the outcome, the
 * checker's findings (in the page's language) and the timeline; Step/Back drive a session and let a
 * trainer pick who moves; Compare shows the table and the article's before/after rows; a saved scenario
 * loads; the timeline model and the CSV export on their own.
 */
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { SessionView } from '../../shared/rpc/sim';
import { preset, STRATEGIES, type HistoryEvent, type RunResult, type StepKind } from '../../shared/sim';
import { i18n } from '../../src-renderer/i18n';
import { resultsCsv } from '../../src-renderer/pages/simulator/export';
import { useSimulator } from '../../src-renderer/pages/simulator/store';
import { buildTimeline, histogram } from '../../src-renderer/pages/simulator/timeline';
import type { FakeTransport } from '../../src-renderer/transport/fake';
import { renderSimulator, runSummary as summary, simulatorPageHooks, text } from './simulator-page';

simulatorPageHooks();

type E = [buyer: number, step: StepKind, t: number, detail?: HistoryEvent['detail']];
const ev = (list: E[]): HistoryEvent[] =>
  list.map(([buyer, step, t, detail], i) => ({ i, buyer, attempt: 1, step, t, detail: detail ?? {} }));

/** Three naive buyers, one key, all three told "success": the incident in miniature. */
const EVENTS = ev([
  [0, 'invoke', 0],
  [1, 'invoke', 10],
  [2, 'invoke', 20],
  [0, 'read', 30, { source: 'db', stock: 1 }],
  [0, 'think', 31, { ms: 100 }],
  [1, 'read', 40, { source: 'db', stock: 1 }],
  [1, 'think', 41, { ms: 100 }],
  [2, 'read', 50, { source: 'db', stock: 1 }],
  [2, 'think', 51, { ms: 100 }],
  [0, 'write', 100_000, { label: 'stock', field: 'stock', from: 1, to: 0, autocommit: true, stockAfter: 0 }],
  [0, 'ok', 100_100, { orderId: 1, keyId: 1 }],
  [1, 'write', 100_200, { label: 'stock', field: 'stock', from: 1, to: 0, autocommit: true, stockAfter: 0 }],
  [1, 'ok', 100_300, { orderId: 2, keyId: 1 }],
  [2, 'write', 100_400, { label: 'stock', field: 'stock', from: 1, to: 0, autocommit: true, stockAfter: 0 }],
  [2, 'ok', 100_500, { orderId: 3, keyId: 1 }],
]);

const RESULT: RunResult = {
  summary: summary('naive', { successes: 3, oversold: 2, declined: 0, anomalies: ['key_sold_twice', 'oversold'] }),
  anomalies: [
    {
      name: 'oversold',
      events: [10, 12, 14],
      message: { en: '3 buyers were told "success" for a stock of 1.', 'zh-CN': '库存只有 1，却有 3 位买家被告知"购买成功"。' },
    },
    {
      name: 'key_sold_twice',
      events: [10, 12, 14],
      message: { en: 'Key #1 was sold to 3 orders.', 'zh-CN': '同一张卡密 #1 卖给了 3 个订单。' },
    },
  ],
  history: {
    version: 1,
    mode: 'live',
    timeUnit: 'us',
    scenario: { ...preset('incident'), buyers: 3 },
    initialStock: 1,
    events: EVENTS,
    final: {
      stock: 0,
      counter: 1,
      keysSold: 1,
      orders: [1, 2, 3].map((id) => ({ id, buyer: id - 1, attempt: 1, keyId: 1, token: null })),
    },
  },
};

function view(steps: number, events: HistoryEvent[], runnable: number[], finished = false): SessionView {
  return { sessionId: 'sim_abc', steps, finished, events, runnable };
}

const setup = (): FakeTransport => renderSimulator({ 'sim.run': () => RESULT });

describe('Simulator page', () => {
  it('runs the incident preset and shows the oversold count, the findings and the timeline', async () => {
    const transport = setup();
    expect(text(screen.getByText(/Pick a preset/))).toMatch(/Run/);
    await userEvent.click(screen.getByTestId('sim-preset-four-layers'));
    expect(screen.getByTestId<HTMLSelectElement>('sim-strategy').value).toBe('four-layers');
    await userEvent.click(screen.getByTestId('sim-preset-incident'));
    expect(screen.getByTestId<HTMLInputElement>('sim-buyers').value).toBe('100');
    await userEvent.click(screen.getByTestId('sim-run'));
    await waitFor(() => expect(text(screen.getByTestId('sim-oversold'))).toBe('2'));
    expect(transport.calls.find((c) => c.method === 'sim.run')?.input).toMatchObject({
      mode: 'live',
      scenario: { name: 'incident', strategy: 'naive', buyers: 100, keys: 1 },
    });
    expect(text(screen.getByTestId('sim-sold'))).toBe('3');
    const findings = screen.getByTestId('sim-anomalies');
    expect(text(findings)).toContain('Oversold');
    expect(text(findings)).toContain('Key #1 was sold to 3 orders.');
    const timeline = screen.getByTestId('sim-timeline');
    expect(timeline.getAttribute('data-rows')).toBe('3');
    expect(within(timeline).getByRole('img').getAttribute('aria-label')).toBe('Timeline of 3 buyers: 3 sold, 2 oversold');
    await i18n.changeLanguage('zh-CN');
    await waitFor(() => expect(text(screen.getByTestId('sim-anomalies'))).toContain('同一张卡密 #1 卖给了 3 个订单。'));
    expect(text(screen.getByTestId('sim-anomalies'))).toContain('超卖');
  });

  it('steps a deterministic session: the seed’s choice, a chosen buyer, back', async () => {
    const transport = setup();
    transport.handle({
      'sim.session.start': () => view(0, [], [0, 1, 2]),
      'sim.session.step': (input) =>
        input.buyer === 2
          ? view(
              2,
              ev([
                [0, 'invoke', 0],
                [0, 'read', 0, { source: 'db', stock: 1 }],
                [2, 'invoke', 1],
                [2, 'read', 1, { source: 'db', stock: 1 }],
              ]),
              [0, 1, 2],
            )
          : view(
              1,
              ev([
                [0, 'invoke', 0],
                [0, 'read', 0, { source: 'db', stock: 1 }],
              ]),
              [0, 1, 2],
            ),
      'sim.session.back': () =>
        view(
          1,
          ev([
            [0, 'invoke', 0],
            [0, 'read', 0, { source: 'db', stock: 1 }],
          ]),
          [0, 1, 2],
        ),
    });
    await userEvent.click(screen.getByTestId('sim-step'));
    await waitFor(() => expect(text(screen.getByTestId('sim-session'))).toContain('Step 1'));
    expect(transport.calls.find((c) => c.method === 'sim.session.start')?.input).toMatchObject({
      scenario: { name: 'incident' },
    });
    await userEvent.selectOptions(screen.getByTestId('sim-chooser'), '2');
    await userEvent.click(screen.getByTestId('sim-step'));
    await waitFor(() => expect(text(screen.getByTestId('sim-session'))).toContain('Step 2'));
    expect(transport.calls.filter((c) => c.method === 'sim.session.step').map((c) => c.input)).toEqual([
      { sessionId: 'sim_abc' },
      { sessionId: 'sim_abc', buyer: 2 },
    ]);
    expect(screen.getByTestId('sim-timeline').getAttribute('data-rows')).toBe('2');
    await userEvent.click(screen.getByTestId('sim-back'));
    await waitFor(() => expect(text(screen.getByTestId('sim-session'))).toContain('Step 1'));
  });

  it('compares every strategy and reproduces the before/after table', async () => {
    const transport = setup();
    transport.handle({
      'sim.compare': () => ({
        results: STRATEGIES.map((s) =>
          s === 'naive'
            ? summary(s, { successes: 100, oversold: 99, declined: 0, latencyMs: { p50: 100, p99: 120, mean: 100, max: 130 } })
            : summary(s, { latencyMs: { p50: 120, p99: 150, mean: 120, max: 160 } }),
        ),
      }),
    });
    await userEvent.click(screen.getByTestId('sim-compare'));
    const table = await screen.findByTestId('sim-compare-table');
    expect(within(table).getAllByRole('row')).toHaveLength(1 + STRATEGIES.length);
    expect(text(within(table).getAllByRole('row')[1])).toMatch(/naive.*100.*99.*99\.0%/);
    const beforeAfter = screen.getByTestId('sim-before-after');
    expect(text(beforeAfter)).toMatch(/Oversell rate.*99\.0%.*0\.0%.*-100\.0%/);
    expect(text(beforeAfter)).toMatch(/Median response time.*100\.0 ms.*120\.0 ms.*20\.0%/);
  });

  it('loads a saved scenario (or the scenario of a saved history) and refuses a bad file', () => {
    const store = useSimulator.getState();
    expect(store.loadScenario(JSON.stringify(RESULT.history))).toBeNull();
    expect(useSimulator.getState().scenario.buyers).toBe(3);
    expect(store.loadScenario(JSON.stringify({ ...preset('stale-cache'), seed: 77 }))).toBeNull();
    expect(useSimulator.getState().scenario).toMatchObject({ name: 'stale-cache', seed: 77 });
    expect(store.loadScenario('{"buyers": -3}')).toMatch(/./);
    expect(store.loadScenario('not json')).toMatch(/JSON/);
    expect(useSimulator.getState().scenario.seed).toBe(77);
  });
});

describe('timeline model and exports', () => {
  it('builds bars and marks per buyer and marks the sales beyond the stock as oversold', () => {
    const model = buildTimeline(EVENTS, 1);
    expect(model).toMatchObject({ sold: 3, oversold: 2, maxT: 100_500 });
    expect(model.rows.map((r) => r.buyer)).toEqual([0, 1, 2]);
    expect(model.rows[0]?.bars).toEqual([{ kind: 'think', from: 31, to: 100_000 }]);
    expect(model.rows.map((r) => r.marks.at(-1)?.kind)).toEqual(['ok', 'oversold', 'oversold']);
    const locked = buildTimeline(
      ev([
        [0, 'begin', 1],
        [0, 'lock_wait', 1],
        [0, 'read', 5],
        [0, 'commit', 9, { stockAfter: 0 }],
        [0, 'ok', 9, { orderId: 1, keyId: 1 }],
      ]),
      1,
    );
    expect(locked.rows[0]?.bars).toEqual([
      { kind: 'wait', from: 1, to: 5 },
      { kind: 'lock', from: 1, to: 9 },
    ]);
    expect(histogram([1, 2, 3, 4], 2)).toEqual([
      { from: 0, to: 2, n: 1 },
      { from: 2, to: 4, n: 3 },
    ]);
  });

  it('exports results as CSV with a BOM, one row per run', () => {
    const csv = resultsCsv([summary('naive', { successes: 100, oversold: 99 }), summary('four-layers')]);
    const lines = csv
      .replace(/^\uFEFF/, '')
      .trimEnd()
      .split('\r\n');
    expect(csv.startsWith('\uFEFF')).toBe(true);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^"scenario","strategy","mode"/);
    expect(lines[1]).toContain('"naive"');
    expect(lines[1]).toContain('"0.9900"');
  });
});
