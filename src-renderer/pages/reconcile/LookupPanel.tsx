/**
 * Dispute lookup: one box for an order id, an e-mail, a payment id or the code a buyer pasted; shows
 * the orders, the codes (masked fingerprints only) and one timeline, and exports it as evidence CSV.
 */
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Badge, Button, Card, describeError, download, Field, Input } from '../../components';
import { useTransport } from '../../transport';
import { formatMoney, formatTime } from '../dashboard/format';
import { useReconcile } from './store';

export function LookupPanel() {
  const { t, i18n } = useTranslation('reconcile');
  const transport = useTransport();
  const { lookup, lookupBusy, lookupError, runLookup } = useReconcile();
  const [query, setQuery] = useState('');
  const [exporting, setExporting] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (query.trim()) void runLookup(transport, query.trim());
  };
  const exportEvidence = async () => {
    setExporting(true);
    try {
      const file = await transport.call('reconcile.export', { kind: 'evidence', query: query.trim() });
      download(file.fileName, file.csv);
    } finally {
      setExporting(false);
    }
  };
  return (
    <Card title={t('lookup.title')} subtitle={t('lookup.hint')}>
      <form className="rc-lookup__form" onSubmit={submit} role="search">
        <Field label={t('lookup.query')}>
          <Input value={query} onChange={(e) => setQuery(e.target.value)} autoComplete="off" spellCheck={false} />
        </Field>
        <Button type="submit" variant="primary" busy={lookupBusy}>
          {t('lookup.search')}
        </Button>
      </form>
      {lookupError ? (
        <p className="field__error" role="alert">
          {describeError(t, lookupError)}
        </p>
      ) : null}
      {lookup ? (
        lookup.matchedBy === 'none' ? (
          <p className="muted">{t('lookup.none', { query: lookup.query })}</p>
        ) : (
          <div className="rc-lookup__result stack">
            <p>
              <Badge tone="info">{t(`lookup.matchedBy.${lookup.matchedBy}`)}</Badge>{' '}
              <Button size="sm" busy={exporting} onClick={() => void exportEvidence()}>
                {t('lookup.export')}
              </Button>
            </p>
            <h4>{t('lookup.orders')}</h4>
            <ul className="rc-lookup__orders">
              {lookup.orders.map((o) => (
                <li key={o.id}>
                  <span className="mono">{o.id}</span>{' '}
                  <Badge tone={o.status === 'delivered' ? 'success' : o.status === 'needs_review' ? 'warning' : 'neutral'}>
                    {o.status}
                  </Badge>{' '}
                  {o.email} · {formatMoney({ amount: o.amount, currency: o.currency }, i18n.language)}
                </li>
              ))}
            </ul>
            {lookup.keys.length > 0 ? (
              <>
                <h4>{t('lookup.keys')}</h4>
                <ul className="rc-lookup__keys">
                  {lookup.keys.map((k) => (
                    <li key={k.id}>
                      {t('lookup.key', { id: k.id, status: k.status })} <span className="mono muted">{k.fingerprint}</span>
                    </li>
                  ))}
                </ul>
              </>
            ) : null}
            <h4>{t('lookup.timeline')}</h4>
            <ol className="rc-timeline">
              {lookup.timeline.map((e, i) => (
                <li key={`${e.source}-${e.ref}-${i}`} className={`rc-timeline__item rc-timeline__item--${e.source}`}>
                  <time dateTime={e.at}>{formatTime(e.at, i18n.language)}</time> <Badge tone="neutral">{e.source}</Badge>{' '}
                  <strong>{e.what}</strong> <span className="mono muted">{e.ref}</span>
                </li>
              ))}
            </ol>
          </div>
        )
      ) : null}
    </Card>
  );
}
