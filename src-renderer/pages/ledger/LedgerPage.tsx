/**
 * The Ledger page: the hash-chained entries newest first (older pages on demand), and a Verify button
 * that replays the chain and shows either "intact" or the first bad entry with what does not fit.
 */
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { LedgerEntry } from '../../../shared/rpc/ledger';
import { Badge, Button, Card, type Column, describeError, EmptyState, Spinner, Table } from '../../components';
import { hrefOf } from '../../shell/router';
import { useTransport } from '../../transport';
import { formatTime } from '../dashboard/format';
import { useDebouncedLive } from '../dashboard/live';
import './ledger.css';
import { problemText } from './problem-text';
import { useLedger } from './store';

const KEY_STATES = new Set(['available', 'reserved', 'sold', 'burned']);
const ACTORS = new Set(['browser', 'desktop', 'admin-api', 'cli']);
const ORDER_STATES = new Set(['reserved', 'paid', 'delivered', 'expired', 'refunded', 'needs_review']);

function DetailSummary({ entry }: { entry: LedgerEntry }) {
  const { t } = useTranslation('ledger');
  const d = entry.detail;
  const parts: string[] = [];
  if (typeof d.keysTo === 'string' && KEY_STATES.has(d.keysTo))
    parts.push(t('detail.keysTo', { status: t(`keyState.${d.keysTo}`) }));
  if (typeof d.orderTo === 'string' && ORDER_STATES.has(d.orderTo))
    parts.push(t('detail.orderTo', { status: t(`orderState.${d.orderTo}`) }));
  if (d.source === 'webhook' || d.source === 'manual') parts.push(t('detail.payment', { source: t(`source.${d.source}`) }));
  if (typeof d.actor === 'string')
    parts.push(t('detail.actor', { actor: ACTORS.has(d.actor) ? t(`actor.${d.actor}`) : d.actor }));
  return <span className="ledger-detail">{parts.join(' · ')}</span>;
}

export function LedgerPage() {
  const { t, i18n } = useTranslation('ledger');
  const transport = useTransport();
  const state = useLedger();
  const { load, loadOlder, changed, verify } = state;
  const [highlight, setHighlight] = useState<number | null>(null);

  useEffect(() => {
    void load(transport);
  }, [load, transport]);
  useDebouncedLive(['order', 'stock', 'import'], () => void changed(transport));

  const columns: Column<LedgerEntry>[] = [
    { key: 'seq', header: t('columns.seq'), align: 'end', render: (e) => <span className="num">{e.seq}</span>, width: '64px' },
    { key: 'at', header: t('columns.at'), render: (e) => <time dateTime={e.at}>{formatTime(e.at, i18n.language)}</time> },
    {
      key: 'kind',
      header: t('columns.kind'),
      render: (e) => (
        <Badge tone={e.kind === 'burn' || e.kind === 'review' ? 'warning' : e.kind === 'sell' ? 'success' : 'neutral'}>
          {t(`kind.${e.kind}`)}
        </Badge>
      ),
    },
    {
      key: 'order',
      header: t('columns.order'),
      render: (e) =>
        e.orderId ? (
          <a className="mono" href={hrefOf('orders', encodeURIComponent(e.orderId))}>
            {e.orderId}
          </a>
        ) : (
          <span className="muted">—</span>
        ),
    },
    {
      key: 'keys',
      header: t('columns.keys'),
      align: 'end',
      render: (e) => (
        <span className="num" title={e.keyIds}>
          {e.keyCount}
        </span>
      ),
    },
    { key: 'detail', header: t('columns.detail'), render: (e) => <DetailSummary entry={e} /> },
    { key: 'hash', header: t('columns.hash'), render: (e) => <span className="mono muted">{e.hash}</span> },
  ];

  const report = state.report;
  const showEntry = (seq: number) => {
    setHighlight(seq);
    void load(transport, seq + 5);
  };

  return (
    <div className="ledger stack">
      <Card
        title={t('verify.title')}
        actions={
          <Button variant="primary" busy={state.verifying} onClick={() => void verify(transport)}>
            {state.verifying ? t('verify.running') : t('verify.button')}
          </Button>
        }
      >
        <p className="muted ledger__intro">{t('intro')}</p>
        <div aria-live="polite">
          {state.verifyError ? (
            <p className="ledger-verdict ledger-verdict--bad" role="alert">
              {t('verify.failed')}: {describeError(t, state.verifyError)}
            </p>
          ) : !report ? (
            <p className="muted">{t('verify.never')}</p>
          ) : report.ok ? (
            <p className="ledger-verdict ledger-verdict--ok">
              <Badge tone="success">✓</Badge> {t('verify.ok', { count: report.entries })}
            </p>
          ) : (
            <div className="stack">
              <p className="ledger-verdict ledger-verdict--bad" role="alert">
                <Badge tone="danger">✗</Badge>{' '}
                {report.firstBadEntry !== undefined ? t('verify.broken', { seq: report.firstBadEntry }) : t('verify.brokenNoSeq')}{' '}
                {report.firstBadEntry !== undefined ? (
                  <button type="button" className="link-btn" onClick={() => showEntry(report.firstBadEntry!)}>
                    {t('verify.show', { seq: report.firstBadEntry })}
                  </button>
                ) : null}
              </p>
              <h3 className="ledger__problems-title">{t('verify.problems')}</h3>
              <ul className="ledger-problems">
                {report.problems.map((p, i) => (
                  <li key={`${p.seq ?? 'none'}-${i}`}>
                    <strong>{p.seq !== null ? t('verify.entry', { seq: p.seq }) : t('verify.noEntry')}</strong>:{' '}
                    <span title={p.reason}>{problemText(t, p.reason)}</span>
                  </li>
                ))}
              </ul>
            </div>
          )}
        </div>
      </Card>

      <Card
        title={t('title')}
        subtitle={state.status === 'ready' ? t('head', { count: state.head }) : undefined}
        flush
        actions={
          <>
            {state.behind ? (
              <Button
                size="sm"
                onClick={() => {
                  setHighlight(null);
                  void load(transport);
                }}
              >
                {t('newest')}
              </Button>
            ) : null}
            <Button size="sm" variant="ghost" onClick={() => void load(transport)}>
              {t('actions.refresh', { ns: 'common' })}
            </Button>
          </>
        }
      >
        {state.status === 'error' && state.entries.length === 0 ? (
          <EmptyState
            title={t('loadFailed')}
            hint={describeError(t, state.error)}
            action={<Button onClick={() => void load(transport)}>{t('actions.retry', { ns: 'common' })}</Button>}
          />
        ) : state.status !== 'ready' ? (
          <Spinner size="lg" />
        ) : state.entries.length === 0 ? (
          <EmptyState title={t('emptyTitle')} hint={t('emptyHint')} />
        ) : (
          <>
            <Table
              columns={columns}
              rows={state.entries}
              rowKey={(e) => String(e.seq)}
              caption={t('caption')}
              selectedKey={highlight === null ? undefined : String(highlight)}
            />
            {state.nextBeforeSeq !== null ? (
              <div className="ledger__more">
                <Button busy={state.loadingMore} onClick={() => void loadOlder(transport)}>
                  {t('older')}
                </Button>
              </div>
            ) : null}
          </>
        )}
      </Card>
    </div>
  );
}
