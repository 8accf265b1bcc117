/**
 * The Reconcile page: findings grouped by kind with counts and money at stake, each with expected and
 * actual side by side, filter and search, audited actions (one or many, previewed before they apply),
 * resolved findings kept visible as resolved; next to it, statement import and dispute lookup.
 */
import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { FINDING_KINDS, type ActionKind, type FindingKind, type ReconcileFinding } from '../../../shared/reconcile';
import { Badge, Button, Card, describeError, download, EmptyState, Field, Input, Select, Spinner } from '../../components';
import { useTransport } from '../../transport';
import { formatMoney, formatTime } from '../dashboard/format';
import { useDebouncedLive } from '../dashboard/live';
import { ActionDialog } from './ActionDialog';
import { FindingCard } from './FindingCard';
import { LookupPanel } from './LookupPanel';
import './reconcile.css';
import { StatementImport } from './StatementImport';
import { amountsByCurrency, useReconcile, visibleFindings, type StatusFilter } from './store';

export function ReconcilePage() {
  const { t, i18n } = useTranslation('reconcile');
  const transport = useTransport();
  const state = useReconcile();
  const { load, report } = state;
  const [dialog, setDialog] = useState<{ action: ActionKind; findings: ReconcileFinding[] } | null>(null);
  const [exporting, setExporting] = useState(false);

  useEffect(() => {
    void load(transport);
  }, [load, transport]);
  useDebouncedLive(['findings'], () => void load(transport));

  const visible = useMemo(
    () => visibleFindings(report, state.kind, state.statusFilter, state.search),
    [report, state.kind, state.statusFilter, state.search],
  );
  const groups = useMemo(() => {
    const byKind = new Map<FindingKind, ReconcileFinding[]>();
    for (const f of visible) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
    return FINDING_KINDS.filter((k) => byKind.has(k)).map((k) => ({ kind: k, findings: byKind.get(k)! }));
  }, [visible]);
  const selected = (report?.findings ?? []).filter((f) => state.selected.has(f.id));
  const bulkActions =
    selected.length === 0
      ? []
      : (['redeliver', 'refund', 'release', 'resolve'] as const).filter((a) => selected.every((f) => f.actions.includes(a)));
  const kinds = report ? FINDING_KINDS.filter((k) => (report.counts[k]?.open ?? 0) + (report.counts[k]?.resolved ?? 0) > 0) : [];
  const money = (amounts: { currency: string; amount: number }[]) =>
    amounts.map((m) => formatMoney(m, i18n.language)).join(' + ');

  const exportFindings = async () => {
    setExporting(true);
    try {
      const file = await transport.call('reconcile.export', { kind: 'findings' });
      download(file.fileName, file.csv);
    } finally {
      setExporting(false);
    }
  };

  return (
    <div className="reconcile">
      <div className="reconcile__main stack">
        <Card
          title={t('title')}
          subtitle={report ? t('lastRun', { time: formatTime(report.ranAt, i18n.language) }) : undefined}
          actions={
            <>
              <Button
                size="sm"
                busy={exporting}
                disabled={!report || report.findings.length === 0}
                onClick={() => void exportFindings()}
              >
                {t('exportFindings')}
              </Button>
              <Button size="sm" variant="primary" busy={state.status === 'loading'} onClick={() => void load(transport)}>
                {t('run')}
              </Button>
            </>
          }
        >
          <p className="muted rc-intro">{t('intro')}</p>
          {kinds.length > 0 ? (
            <div className="rc-kinds" role="group" aria-label={t('filter.kind')}>
              {kinds.map((kind) => {
                const counts = report!.counts[kind]!;
                const amounts = amountsByCurrency(report!.findings.filter((f) => f.kind === kind && f.status === 'open'));
                return (
                  <button
                    key={kind}
                    type="button"
                    className="rc-kind"
                    aria-pressed={state.kind === kind}
                    onClick={() => state.setKind(state.kind === kind ? null : kind)}
                  >
                    <span className="rc-kind__name">{t(`kind.${kind}`)}</span>
                    <span className="rc-kind__counts">
                      <Badge tone={counts.open > 0 ? 'danger' : 'success'}>{t('summary.open', { count: counts.open })}</Badge>
                      {counts.resolved > 0 ? (
                        <Badge tone="success">{t('summary.resolved', { count: counts.resolved })}</Badge>
                      ) : null}
                    </span>
                    {amounts.length > 0 ? (
                      <span className="rc-kind__amount">
                        {t('summary.atStake')} <strong>{money(amounts)}</strong>
                      </span>
                    ) : null}
                  </button>
                );
              })}
            </div>
          ) : null}
          {report?.truncated ? <p className="muted">{t('truncated')}</p> : null}
        </Card>

        {state.status === 'error' && !report ? (
          <EmptyState
            title={t('loadFailed')}
            hint={describeError(t, state.error)}
            action={<Button onClick={() => void load(transport)}>{t('actions.retry', { ns: 'common' })}</Button>}
          />
        ) : !report ? (
          <Spinner size="lg" />
        ) : report.findings.length === 0 ? (
          <Card>
            <EmptyState title={t('allClear')} hint={t('allClearHint')} />
          </Card>
        ) : (
          <>
            <div className="rc-filters">
              <Field label={t('filter.search')}>
                <Input
                  type="search"
                  value={state.search}
                  placeholder={t('filter.searchPlaceholder')}
                  onChange={(e) => state.setSearch(e.target.value)}
                />
              </Field>
              <Field label={t('filter.status')}>
                <Select
                  value={state.statusFilter}
                  onChange={(e) => state.setStatusFilter(e.target.value as StatusFilter)}
                  options={(['open', 'resolved', 'all'] as const).map((s) => ({ value: s, label: t(`filter.${s}`) }))}
                />
              </Field>
              <Field label={t('filter.kind')}>
                <Select
                  value={state.kind ?? ''}
                  onChange={(e) => state.setKind(e.target.value === '' ? null : (e.target.value as FindingKind))}
                  options={[
                    { value: '', label: t('filter.allKinds') },
                    ...kinds.map((k) => ({ value: k, label: t(`kind.${k}`) })),
                  ]}
                />
              </Field>
            </div>
            {bulkActions.length > 0 ? (
              <div className="rc-bulk" role="toolbar">
                {bulkActions.map((action) => (
                  <Button key={action} size="sm" onClick={() => setDialog({ action, findings: selected })}>
                    {t('action.bulk', { action: t(`action.${action}`), count: selected.length })}
                  </Button>
                ))}
                <Button size="sm" variant="ghost" onClick={state.clearSelection}>
                  {t('actions.cancel', { ns: 'common' })}
                </Button>
              </div>
            ) : null}
            {groups.length === 0 ? <p className="muted">{t('filter.noMatch')}</p> : null}
            {groups.map((group) => {
              const counts = report.counts[group.kind]!;
              const amounts = amountsByCurrency(group.findings);
              return (
                <section key={group.kind} className="rc-group" aria-labelledby={`rc-${group.kind}`}>
                  <h3 id={`rc-${group.kind}`} className="rc-group__title">
                    {t(`kind.${group.kind}`)}{' '}
                    <Badge tone={counts.open > 0 ? 'danger' : 'success'}>{t('summary.open', { count: counts.open })}</Badge>
                    {counts.resolved > 0 ? (
                      <Badge tone="success">{t('summary.resolved', { count: counts.resolved })}</Badge>
                    ) : null}
                    {amounts.length > 0 ? <span className="rc-group__amount">{money(amounts)}</span> : null}
                  </h3>
                  <ul className="rc-findings">
                    {group.findings.map((f) => (
                      <FindingCard
                        key={f.id}
                        finding={f}
                        selected={state.selected.has(f.id)}
                        onToggle={() => state.toggle(f.id)}
                        onAction={(action) => setDialog({ action, findings: [f] })}
                      />
                    ))}
                  </ul>
                </section>
              );
            })}
          </>
        )}
      </div>
      <aside className="reconcile__side stack">
        <StatementImport />
        <LookupPanel />
      </aside>
      <ActionDialog action={dialog?.action ?? null} findings={dialog?.findings ?? []} onClose={() => setDialog(null)} />
    </div>
  );
}
