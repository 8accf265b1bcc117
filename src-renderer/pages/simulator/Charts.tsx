/**
 * The Simulator's charts: latency histogram and throughput over time for the run on screen, and the
 * strategy comparison (table with the engine beside each strategy, chart, and the article's before/after
 * table computed from the real runs, once per engine that ran both ends). Colours are literal so a PNG
 * export looks like the screen.
 */
import { useTranslation } from 'react-i18next';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { comparisonRow, ENGINES, type HistoryEvent, type RunSummary, type SimMode } from '../../../shared/sim';
import { Card } from '../../components';
import { histogram, latencies, throughput } from './timeline';

export function RunCharts({ events, timeUnit }: { events: readonly HistoryEvent[]; timeUnit: 'us' | 'step' }) {
  const { t } = useTranslation('simulator');
  const scale = timeUnit === 'us' ? 0.001 : 1;
  const unit = timeUnit === 'us' ? t('timeline.unitUs') : t('timeline.unitStep');
  const bins = histogram(latencies(events, scale)).map((b) => ({ label: Number(b.to.toFixed(1)), n: b.n }));
  const flow = throughput(events, scale);
  const bucket = flow.length > 0 ? Number((flow[0]?.at ?? 0).toFixed(1)) : 0;
  return (
    <div className="sim-charts">
      <Card title={t('charts.latency')} subtitle={t('charts.latencySubtitle', { unit })}>
        <div className="sim-chart" data-testid="sim-latency">
          <BarChart
            responsive
            data={bins}
            style={{ width: '100%', height: 200 }}
            margin={{ top: 8, right: 8, bottom: 0, left: 0 }}
          >
            <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e5ea" />
            <XAxis dataKey="label" tick={{ fontSize: 11 }} stroke="#5d6673" />
            <YAxis allowDecimals={false} tick={{ fontSize: 11 }} width={36} stroke="#5d6673" />
            <Tooltip formatter={(v) => [v, t('charts.buyers')]} />
            <Bar dataKey="n" fill="#2563eb" isAnimationActive={false} />
          </BarChart>
        </div>
      </Card>
      <Card title={t('charts.throughput')} subtitle={t('charts.throughputSubtitle', { bucket })}>
        <div className="sim-chart" data-testid="sim-throughput">
          <LineChart
            responsive
            data={flow}
            style={{ width: '100%', height: 200 }}
            margin={{ top: 8, right: 8, bottom: 0, left: 0 }}
          >
            <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e5ea" />
            <XAxis dataKey="at" tick={{ fontSize: 11 }} stroke="#5d6673" />
            <YAxis allowDecimals={false} tick={{ fontSize: 11 }} width={36} stroke="#5d6673" />
            <Tooltip formatter={(v) => [v, t('charts.answers')]} />
            <Line dataKey="n" stroke="#0e7490" strokeWidth={2} dot={false} isAnimationActive={false} />
          </LineChart>
        </div>
      </Card>
    </div>
  );
}

const pct = (x: number) => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;

export function Comparison({ results, mode }: { results: readonly RunSummary[]; mode: SimMode }) {
  const { t } = useTranslation('simulator');
  const rows = results.map(comparisonRow);
  const unit = mode === 'live' ? ' ms' : '';
  const engines = new Set(rows.map((r) => r.engine));
  // The article's table compares the naive code with the full scheme, on each engine that ran both.
  const pairs = ENGINES.flatMap((engine) => {
    const before = rows.find((r) => r.engine === engine && r.strategy === 'naive');
    const after = rows.find((r) => r.engine === engine && r.strategy === 'four-layers');
    return before && after ? [{ engine, before, after }] : [];
  });
  const change = (a: number, b: number) => (a === 0 ? '—' : `${(((b - a) / a) * 100).toFixed(1)}%`);
  const label = (r: { strategy: string; engine: string }) => (engines.size > 1 ? `${r.strategy} · ${r.engine}` : r.strategy);
  const chart = rows.map((r) => ({ strategy: label(r), rate: Number((r.oversellRate * 100).toFixed(2)), p99: r.p99Ms }));
  return (
    <Card
      title={t('compare.title')}
      subtitle={t('compare.subtitle', { mode: t(`scenario.modes.${mode}`) })}
      className="sim-compare"
    >
      <div className="sim-compare__grid">
        <table className="sim-table" data-testid="sim-compare-table">
          <thead>
            <tr>
              <th scope="col">{t('compare.strategy')}</th>
              <th scope="col">{t('compare.sold')}</th>
              <th scope="col">{t('compare.oversold')}</th>
              <th scope="col">{t('compare.oversellRate')}</th>
              <th scope="col">{t('compare.declined')}</th>
              <th scope="col">{t('compare.errors')}</th>
              <th scope="col">{t('compare.p50')}</th>
              <th scope="col">{t('compare.p99')}</th>
              {mode === 'live' ? <th scope="col">{t('compare.throughput')}</th> : null}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.engine}/${r.strategy}`} className={r.oversold > 0 ? 'sim-row--bad' : undefined}>
                <th scope="row" className="mono">
                  {r.strategy}{' '}
                  <span className="sim-engine-tag" title={t(`engine.${r.engine}`)} data-testid="sim-compare-engine">
                    {r.engine}
                  </span>
                </th>
                <td className="num">{r.successes}</td>
                <td className="num">{r.oversold}</td>
                <td className="num">{pct(r.oversellRate)}</td>
                <td className="num">{r.declined}</td>
                <td className="num">{r.errors}</td>
                <td className="num">{`${r.p50Ms.toFixed(1)}${unit}`}</td>
                <td className="num">{`${r.p99Ms.toFixed(1)}${unit}`}</td>
                {mode === 'live' ? <td className="num">{r.throughputPerS.toFixed(0)}</td> : null}
              </tr>
            ))}
          </tbody>
        </table>
        <div className="sim-chart" data-testid="sim-compare-chart">
          <BarChart
            responsive
            data={chart}
            style={{ width: '100%', height: 240 }}
            margin={{ top: 8, right: 8, bottom: 0, left: 0 }}
          >
            <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e5ea" />
            <XAxis
              dataKey="strategy"
              tick={{ fontSize: 10 }}
              interval={0}
              angle={-20}
              textAnchor="end"
              height={48}
              stroke="#5d6673"
            />
            <YAxis yAxisId="rate" tick={{ fontSize: 11 }} width={36} stroke="#5d6673" />
            <YAxis yAxisId="p99" orientation="right" tick={{ fontSize: 11 }} width={44} stroke="#5d6673" />
            <Tooltip />
            <Legend formatter={(v) => (v === 'rate' ? t('compare.chartRate') : t('compare.chartP99'))} />
            <Bar yAxisId="rate" dataKey="rate" fill="#dc2626" isAnimationActive={false} />
            <Bar yAxisId="p99" dataKey="p99" fill="#60a5fa" isAnimationActive={false} />
          </BarChart>
        </div>
      </div>
      {pairs.map(({ engine, before, after }, k) => (
        <div key={engine}>
          <h3 className="sim-subtitle">
            {pairs.length > 1 ? t('compare.beforeAfterOn', { engine: t(`engine.${engine}`) }) : t('compare.beforeAfter')}
          </h3>
          <table
            className="sim-table sim-table--narrow"
            data-testid={k === 0 ? 'sim-before-after' : `sim-before-after-${engine}`}
          >
            <thead>
              <tr>
                <th scope="col">{t('compare.metric')}</th>
                <th scope="col">{t('compare.before')}</th>
                <th scope="col">{t('compare.after')}</th>
                <th scope="col">{t('compare.change')}</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <th scope="row">{t('compare.rateRow')}</th>
                <td className="num">{pct(before.oversellRate)}</td>
                <td className="num">{pct(after.oversellRate)}</td>
                <td className="num">{change(before.oversellRate, after.oversellRate)}</td>
              </tr>
              <tr>
                <th scope="row">{t('compare.p50Row')}</th>
                <td className="num">{`${before.p50Ms.toFixed(1)}${unit}`}</td>
                <td className="num">{`${after.p50Ms.toFixed(1)}${unit}`}</td>
                <td className="num">{change(before.p50Ms, after.p50Ms)}</td>
              </tr>
            </tbody>
          </table>
        </div>
      ))}
    </Card>
  );
}
