/** An order's life cycle, oldest first: ledger entries (what moved) and audit rows (who acted). */
import { useTranslation } from 'react-i18next';
import type { TimelineItem } from '../../../shared/rpc/orders';
import { formatTime } from '../dashboard/format';
import { StatusBadge } from './StatusBadge';

const KNOWN_EVENTS = new Set([
  'import',
  'reserve',
  'release',
  'sell',
  'refund',
  'burn',
  'review',
  'order.mark_paid',
  'order.refund',
  'order.release',
  'order.redeliver',
  'key.reveal',
  'keys.reveal',
  'key.copy',
  'keys.copy',
  'payment.created',
  'payment.notified',
  'payment.queried',
  'payment.applied',
  'payment.refunded',
]);

/** What a payment channel event says, in a line: channel, state or effect, trade number. */
function channelLine(detail: Record<string, unknown>): string {
  return ['channel', 'method', 'state', 'effect', 'tradeNo', 'refundId']
    .map((key) => detail[key])
    .filter((value): value is string => typeof value === 'string' && value !== '')
    .join(' · ');
}

export function Timeline({ items }: { items: readonly TimelineItem[] }) {
  const { t, i18n } = useTranslation('orders');
  // `gateway:<channel>` is a payment channel's own notification.
  const actorName = (actor: string): string => {
    const channel = /^gateway:(epay|alipay|wechatpay|stripe)$/.exec(actor)?.[1];
    if (channel) return t(`detail.paymentSource.${channel}`);
    return KNOWN_ACTORS.has(actor) ? t(`actor.${actor}`) : actor;
  };
  return (
    <ol className="timeline">
      {items.map((item, index) => (
        <li key={`${item.source}-${item.seq ?? index}-${index}`} className={`timeline__item timeline__item--${item.source}`}>
          <span className="timeline__dot" aria-hidden="true" />
          <div className="timeline__body">
            <div className="timeline__head">
              <span className="timeline__event">
                {KNOWN_EVENTS.has(item.event) ? t(`event.${item.event}`) : t('event.other', { event: item.event })}
              </span>
              {item.orderTo ? <StatusBadge status={item.orderTo} /> : null}
            </div>
            <div className="timeline__meta muted">
              <time dateTime={item.at}>{formatTime(item.at, i18n.language)}</time>
              {item.seq !== null ? <span>{t('detail.entry', { seq: item.seq })}</span> : null}
              {item.keyIds.length > 0 ? <span>{t('detail.keysMoved', { count: item.keyIds.length })}</span> : null}
              {item.actor ? <span>{t('detail.by', { actor: actorName(item.actor) })}</span> : null}
            </div>
            {item.event.startsWith('payment.') && channelLine(item.detail) !== '' ? (
              <div className="timeline__reason mono">{channelLine(item.detail)}</div>
            ) : null}
            {typeof item.detail.reason === 'string' && item.detail.reason !== '' ? (
              <div className="timeline__reason">
                {t('action.reason')}:{' '}
                {KNOWN_REVIEW.has(item.detail.reason) ? t(`reviewReason.${item.detail.reason}`) : item.detail.reason}
              </div>
            ) : null}
          </div>
        </li>
      ))}
    </ol>
  );
}

const KNOWN_ACTORS = new Set(['browser', 'desktop', 'admin-api', 'cli', 'buyer', 'poller']);
const KNOWN_REVIEW = new Set([
  'amount_mismatch',
  'paid_after_expiry_sold_out',
  'duplicate_payment',
  'payment_after_refund',
  'hold_mismatch',
  'hold_expired',
  'released_by_hand',
]);
