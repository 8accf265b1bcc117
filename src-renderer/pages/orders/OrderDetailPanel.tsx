/** The order open beside the list: summary, codes (numbers only), payments, life-cycle timeline and actions. */
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { OrderDetail } from '../../../shared/rpc/orders';
import { Badge, Button, describeError, EmptyState, Spinner } from '../../components';
import { formatMoney, formatTime } from '../dashboard/format';
import { KeyReveal } from './KeyReveal';
import { OrderActions } from './OrderActions';
import { StatusBadge } from './StatusBadge';
import { Timeline } from './Timeline';
import { useOrders } from './store';

const KNOWN_REVIEW = new Set([
  'amount_mismatch',
  'paid_after_expiry_sold_out',
  'duplicate_payment',
  'payment_after_refund',
  'hold_mismatch',
]);

export function OrderDetailPanel({ onClose }: { onClose: () => void }) {
  const { t } = useTranslation('orders');
  const selectedId = useOrders((s) => s.selectedId);
  const detail = useOrders((s) => s.detail);
  const status = useOrders((s) => s.detailStatus);
  const error = useOrders((s) => s.detailError);
  if (!selectedId) return null;
  return (
    <aside className="order-panel" aria-label={t('detail.title', { id: selectedId })}>
      <header className="order-panel__header">
        <h2 className="order-panel__title">
          {t('detail.heading')} <span className="mono">{selectedId}</span>
        </h2>
        <button type="button" className="icon-btn" onClick={onClose} aria-label={t('detail.close')}>
          ×
        </button>
      </header>
      {status === 'error' ? (
        <EmptyState
          title={t('detail.loadFailed')}
          hint={describeError(t, error)}
          action={<Button onClick={onClose}>{t('actions.close', { ns: 'common' })}</Button>}
        />
      ) : !detail ? (
        <Spinner label={t('detail.loading')} />
      ) : (
        <DetailBody detail={detail} />
      )}
    </aside>
  );
}

function DetailBody({ detail }: { detail: OrderDetail }) {
  const { t, i18n } = useTranslation('orders');
  const lang = i18n.language;
  const { order } = detail;
  const reason = order.reviewReason;
  const rows: [string, ReactNode][] = [
    [t('detail.buyer'), order.email],
    [t('detail.product'), order.productName ?? order.productId],
    [t('detail.quantity'), order.quantity],
    [t('detail.amount'), formatMoney({ amount: order.amount, currency: order.currency }, lang)],
    [t('detail.created'), formatTime(order.createdAt, lang)],
  ];
  if (order.status === 'reserved') rows.push([t('detail.holdUntil'), formatTime(order.expiresAt, lang)]);
  if (order.paidAt) rows.push([t('detail.paidAt'), formatTime(order.paidAt, lang)]);
  if (order.deliveredAt) rows.push([t('detail.deliveredAt'), formatTime(order.deliveredAt, lang)]);

  return (
    <div className="order-panel__body">
      <section className="order-section">
        <div className="row">
          <StatusBadge status={order.status} />
        </div>
        {reason ? (
          <p className="order-review" role="note">
            <strong>{t('detail.reason')}: </strong>
            {KNOWN_REVIEW.has(reason) ? t(`reviewReason.${reason}`) : t('reviewReason.unknown', { reason })}
          </p>
        ) : null}
        <dl className="order-facts">
          {rows.map(([label, value]) => (
            <div key={label} className="order-facts__row">
              <dt className="muted">{label}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      </section>

      <section className="order-section">
        <h3 className="order-section__title">{t('detail.actions')}</h3>
        <OrderActions detail={detail} />
      </section>

      <section className="order-section">
        <h3 className="order-section__title">{t('detail.keys')}</h3>
        <p className="muted order-section__hint">{t('detail.keysHint')}</p>
        {detail.keys.length === 0 ? (
          <p className="muted">{t('detail.noKeys')}</p>
        ) : (
          <ul className="order-keys">
            {detail.keys.map((key) => (
              <li key={key.id} className="order-keys__item">
                <span className="mono">{t('detail.keyId', { id: key.id })}</span>
                <Badge tone={key.status === 'sold' ? 'success' : key.status === 'burned' ? 'danger' : 'neutral'}>
                  {t(`detail.keyStatus.${key.status}`)}
                </Badge>
                {key.deliveredAt ? <span className="muted">{formatTime(key.deliveredAt, lang)}</span> : null}
                {key.status !== 'returned' ? <KeyReveal keyId={key.id} /> : null}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section className="order-section">
        <h3 className="order-section__title">{t('detail.payments')}</h3>
        {detail.payments.length === 0 ? (
          <p className="muted">{t('detail.noPayments')}</p>
        ) : (
          <ul className="order-payments">
            {detail.payments.map((p) => (
              <li key={p.eventId}>
                <span>{t(`detail.paymentSource.${p.source}`)}</span> ·{' '}
                {p.tradeNo ? (
                  <>
                    <span className="mono">{p.tradeNo}</span> ·{' '}
                    <span className="muted">{t(`detail.via.${p.via ?? 'notify'}`)}</span> ·{' '}
                  </>
                ) : null}
                <span>{formatMoney({ amount: p.amount, currency: p.currency }, lang)}</span> ·{' '}
                <span className="muted">{t(`detail.paymentOutcome.${p.outcome}`)}</span> ·{' '}
                <time className="muted" dateTime={p.receivedAt}>
                  {formatTime(p.receivedAt, lang)}
                </time>
              </li>
            ))}
          </ul>
        )}
      </section>

      {detail.checkouts.length > 0 ? (
        <section className="order-section">
          <h3 className="order-section__title">{t('detail.checkouts')}</h3>
          <ul className="order-payments">
            {detail.checkouts.map((c) => (
              <li key={c.channel}>
                <span>{t(`detail.paymentSource.${c.channel}`)}</span> · <span className="mono">{c.method}</span> ·{' '}
                <Badge tone={c.state === 'paid' ? 'success' : c.state === 'open' ? 'info' : 'neutral'}>
                  {t(`detail.checkoutState.${c.state}`)}
                </Badge>{' '}
                ·{' '}
                <span className="muted">
                  {t('detail.queries', { count: c.queries })}
                  {c.lastQueryAt
                    ? ` · ${t('detail.lastAnswer', { status: c.lastQueryStatus ?? '?', time: formatTime(c.lastQueryAt, lang) })}`
                    : ''}
                  {c.nextQueryAt ? ` · ${t('detail.nextQuery', { time: formatTime(c.nextQueryAt, lang) })}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      <section className="order-section">
        <h3 className="order-section__title">{t('detail.timeline')}</h3>
        <p className="muted order-section__hint">{t('detail.timelineHint')}</p>
        <Timeline items={detail.timeline} />
      </section>
    </div>
  );
}
