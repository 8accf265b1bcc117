/**
 * The Simulator page: set up (or pick) a scenario and its engine, Run it live or deterministically, or
 * Step through it one buyer move at a time (choose who moves, go Back, Reset; SQLite only); see the
 * outcome, what the checker found, the per-buyer timeline, latency and throughput; compare every
 * strategy on every engine offered; export the history, the results and the charts.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { deterministicOn } from '../../../shared/sim';
import { Badge, Button, Card, describeError, download, downloadDataUrl } from '../../components';
import { useTransport } from '../../transport';
import { Comparison, RunCharts } from './Charts';
import { chartsPng, resultsCsv } from './export';
import { ScenarioForm } from './ScenarioForm';
import { shownEvents, useSimulator } from './store';
import { buildTimeline } from './timeline';
import { COLORS, TimelineCanvas, type TimelineHandle } from './TimelineCanvas';
import './simulator.css';

const LEGEND = ['read', 'think', 'wait', 'lock', 'write', 'commit', 'ok', 'oversold', 'fail'] as const;

export function SimulatorPage() {
  const { t, i18n } = useTranslation('simulator');
  const transport = useTransport();
  const state = useSimulator();
  const { scenario, result, session, comparison, comparisonMode, busy, error } = state;
  const [chooser, setChooser] = useState<string>('');
  const timelineRef = useRef<TimelineHandle>(null);
  const chartsRef = useRef<HTMLDivElement>(null);
  const lang = i18n.language === 'zh-CN' ? 'zh-CN' : 'en';
  const { loadEngines } = state;
  useEffect(() => {
    void loadEngines(transport);
  }, [loadEngines, transport]);
  // The real servers run live only: stepping is for SQLite's deterministic scheduler.
  const stepless = !deterministicOn(scenario.engine);

  const events = shownEvents(state);
  const stock = session ? scenario.keys : (result?.history.initialStock ?? scenario.keys);
  const timeUnit = session ? 'step' : (result?.history.timeUnit ?? 'us');
  const timeline = useMemo(() => buildTimeline(events, stock), [events, stock]);
  const scale = timeUnit === 'us' ? 0.001 : 1;
  const summary = result?.summary ?? null;
  const counts = summary
    ? {
        sold: summary.successes,
        oversold: summary.oversold,
        declined: summary.declined,
        errors: summary.errors,
        unknown: summary.unknown,
      }
    : {
        sold: timeline.sold,
        oversold: timeline.oversold,
        declined: events.filter((e) => e.step === 'fail' && e.detail.reason === 'sold_out').length,
        errors: events.filter((e) => e.step === 'fail' && e.detail.reason !== 'sold_out' && e.detail.afterResponse !== true)
          .length,
        unknown: 0,
      };
  const runnable = session?.runnable ?? [];

  const exportPng = async () => {
    if (!chartsRef.current) return;
    const blob = await chartsPng(chartsRef.current);
    if (blob) download(`oncekey-sim-${scenario.name}-charts.png`, blob);
  };

  return (
    <div className="sim stack">
      <p className="muted sim-intro">{t('intro')}</p>
      <Card
        title={t('scenario.title')}
        actions={
          <div className="sim-actions">
            <Button
              variant="primary"
              busy={busy === 'run'}
              disabled={busy !== null}
              onClick={() => void state.run(transport)}
              data-testid="sim-run"
            >
              {busy === 'run' ? t('actions.running') : t('actions.run')}
            </Button>
            <Button
              onClick={() => void state.step(transport, chooser === '' ? undefined : Number(chooser))}
              disabled={busy !== null || stepless || session?.finished === true}
              data-testid="sim-step"
            >
              {t('actions.step')}
            </Button>
            <Button
              onClick={() => void state.back(transport)}
              disabled={busy !== null || !session || session.steps === 0}
              data-testid="sim-back"
            >
              {t('actions.back')}
            </Button>
            <Button
              onClick={() => void state.resetSession(transport)}
              disabled={busy !== null || (!session && !result)}
              data-testid="sim-reset"
            >
              {t('actions.reset')}
            </Button>
            <Button
              onClick={() => void state.finish(transport)}
              disabled={busy !== null || stepless || session?.finished === true}
              data-testid="sim-finish"
            >
              {t('actions.finish')}
            </Button>
            <Button
              busy={busy === 'compare'}
              disabled={busy !== null}
              onClick={() => void state.compare(transport)}
              data-testid="sim-compare"
            >
              {busy === 'compare' ? t('actions.comparing') : t('actions.compare')}
            </Button>
          </div>
        }
      >
        <ScenarioForm />
        {session ? (
          <div className="sim-session" data-testid="sim-session">
            <span>
              {session.finished
                ? t('session.finished', { steps: session.steps })
                : t('session.status', {
                    steps: session.steps,
                    runnable: runnable.length ? runnable.map((b) => `#${b}`).join(' ') : t('session.none'),
                  })}
            </span>
            {!session.finished ? (
              <label className="sim-chooser">
                <span>{t('actions.stepBuyer')}</span>
                <select
                  className="input select"
                  value={chooser}
                  onChange={(e) => setChooser(e.target.value)}
                  data-testid="sim-chooser"
                >
                  <option value="">{t('actions.anyBuyer')}</option>
                  {runnable.map((b) => (
                    <option key={b} value={String(b)}>{`#${b}`}</option>
                  ))}
                </select>
              </label>
            ) : null}
          </div>
        ) : null}
        {error ? (
          <p className="sim-error" role="alert">
            {describeError(t, error)}
          </p>
        ) : null}
      </Card>

      <Card
        title={t('outcome.title')}
        subtitle={
          summary ? (
            <span data-testid="sim-summary-line">{`${summary.strategy} · ${t(`scenario.modes.${summary.mode}`)} · ${t(`engine.${summary.engine}`)} · ${summary.buyers} / ${summary.keys}`}</span>
          ) : undefined
        }
        actions={
          result ? (
            <div className="sim-actions">
              <Button
                size="sm"
                onClick={() =>
                  download(`oncekey-sim-${scenario.name}-history.json`, JSON.stringify(result.history), 'application/json')
                }
              >
                {t('actions.exportHistory')}
              </Button>
              <Button
                size="sm"
                onClick={() =>
                  download(
                    `oncekey-sim-${scenario.name}-results.csv`,
                    resultsCsv(comparison ?? [result.summary]),
                    'text/csv;charset=utf-8',
                  )
                }
              >
                {t('actions.exportCsv')}
              </Button>
              <Button size="sm" onClick={() => void exportPng()}>
                {t('actions.exportPng')}
              </Button>
            </div>
          ) : undefined
        }
      >
        {events.length === 0 && !result ? (
          <p className="muted">{t('outcome.empty')}</p>
        ) : (
          <>
            <dl className="sim-tiles" data-testid="sim-outcome">
              {(['sold', 'oversold', 'declined', 'errors', 'unknown'] as const).map((k) => (
                <div
                  key={k}
                  className={`sim-tile sim-tile--${k}${k === 'oversold' && counts.oversold > 0 ? ' sim-tile--alert' : ''}`}
                >
                  <dt>{t(`outcome.${k}`)}</dt>
                  <dd className="num" data-testid={`sim-${k}`}>
                    {counts[k]}
                  </dd>
                </div>
              ))}
              {summary ? (
                <div className="sim-tile sim-tile--wide">
                  <dt>
                    {summary.mode === 'live'
                      ? t('outcome.latency', {
                          p50: `${summary.latencyMs.p50.toFixed(1)} ms`,
                          p99: `${summary.latencyMs.p99.toFixed(1)} ms`,
                        })
                      : t('outcome.steps', { count: summary.durationMs })}
                  </dt>
                  <dd className="sim-tile__small">
                    {summary.mode === 'live'
                      ? t('outcome.throughput', { value: summary.throughputPerS.toFixed(0) })
                      : t('outcome.sha', { sha: summary.historySha256.slice(0, 16) })}
                  </dd>
                </div>
              ) : null}
            </dl>
            {result ? (
              result.anomalies.length === 0 ? (
                <p className="sim-verdict sim-verdict--ok">
                  <Badge tone="success">✓</Badge> {t('outcome.noAnomaly')}
                </p>
              ) : (
                <div className="sim-anomalies" data-testid="sim-anomalies">
                  <h3 className="sim-subtitle">{t('outcome.anomalies')}</h3>
                  <ul>
                    {result.anomalies.slice(0, 12).map((a, k) => (
                      <li key={`${a.name}-${k}`}>
                        <Badge tone="danger">{t(`anomaly.${a.name}`)}</Badge> <span>{a.message[lang]}</span>
                      </li>
                    ))}
                  </ul>
                </div>
              )
            ) : null}
          </>
        )}
      </Card>

      {events.length > 0 ? (
        <Card
          title={t('timeline.title')}
          subtitle={`${t('timeline.subtitle', { unit: timeUnit === 'us' ? t('timeline.unitUs') : t('timeline.unitStep') })} · ${t('timeline.rows', { count: timeline.rows.length })}`}
          actions={
            <Button
              size="sm"
              onClick={() => {
                const png = timelineRef.current?.toPng();
                if (png) downloadDataUrl(`oncekey-sim-${scenario.name}-timeline.png`, png);
              }}
            >
              {t('actions.exportTimeline')}
            </Button>
          }
        >
          <ul className="sim-legend">
            {LEGEND.map((k) => (
              <li key={k}>
                <span className="sim-swatch" style={{ background: COLORS[k] }} />
                {t(`timeline.legend.${k}`)}
              </li>
            ))}
          </ul>
          <TimelineCanvas
            ref={timelineRef}
            timeline={timeline}
            scale={scale}
            ariaLabel={t('timeline.aria', { count: timeline.rows.length, sold: timeline.sold, oversold: timeline.oversold })}
          />
        </Card>
      ) : null}

      <div ref={chartsRef} className="stack">
        {result ? <RunCharts events={result.history.events} timeUnit={result.history.timeUnit} /> : null}
        {comparison && comparisonMode ? <Comparison results={comparison} mode={comparisonMode} /> : null}
      </div>
    </div>
  );
}
