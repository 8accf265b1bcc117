/**
 * The dashboard: stock totals, what needs attention, sales over time, stock per product and the ledger's
 * state. Refreshes itself (debounced) when a purchase or an import changes stock, without a reload.
 */
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { Button, describeError, EmptyState, Spinner } from '../../components';
import { hrefOf } from '../../shell/router';
import { useTransport } from '../../transport';
import { AlertList } from './AlertList';
import './dashboard.css';
import { formatTime } from './format';
import { LedgerCard } from './LedgerCard';
import { useDebouncedLive } from './live';
import { SalesChart } from './SalesChart';
import { StatTiles } from './StatTiles';
import { StockChart } from './StockChart';
import { useDashboard } from './store';

export function DashboardPage() {
  const { t, i18n } = useTranslation('dashboard');
  const transport = useTransport();
  const state = useDashboard();
  const { load } = state;

  useEffect(() => {
    void load(transport);
  }, [load, transport]);
  useDebouncedLive(['stock', 'order'], () => void load(transport));

  if (state.status === 'error' && !state.summary) {
    return (
      <EmptyState
        title={t('loadFailed')}
        hint={describeError(t, state.error)}
        action={<Button onClick={() => void load(transport)}>{t('actions.retry', { ns: 'common' })}</Button>}
      />
    );
  }
  if (!state.summary || !state.sales) return <Spinner size="lg" />;
  const { summary, sales } = state;

  return (
    <div className="dash">
      <div className="dash__toolbar">
        <span className="dash__updated" aria-live="polite">
          {t('refreshed', { time: formatTime(summary.generatedAt, i18n.language) })}
        </span>
        <Button size="sm" variant="ghost" onClick={() => void load(transport)}>
          {t('actions.refresh', { ns: 'common' })}
        </Button>
      </div>
      {summary.products.length === 0 ? (
        <EmptyState
          title={t('empty.title')}
          hint={t('empty.hint')}
          action={
            <a className="btn btn--primary" href={hrefOf('products', 'new')}>
              {t('empty.action')}
            </a>
          }
        />
      ) : (
        <StatTiles summary={summary} />
      )}
      <div className="dash__grid">
        <AlertList alerts={summary.alerts} />
        <LedgerCard
          ledger={summary.ledger}
          verifying={state.verifying}
          verifyError={state.verifyError}
          onVerify={() => void state.verifyLedger(transport)}
        />
      </div>
      {summary.products.length > 0 ? (
        <>
          <SalesChart sales={sales} days={state.days} onDays={(days) => void state.setDays(transport, days)} />
          <StockChart products={summary.products} />
        </>
      ) : null}
    </div>
  );
}
