/** What needs the owner's attention: sold-out and low products, orders in review, a broken ledger. */
import { useTranslation } from 'react-i18next';
import type { DashboardAlert } from '../../../shared/rpc/dashboard';
import { Badge, type BadgeTone, Card } from '../../components';
import { hrefOf } from '../../shell/router';
import { formatCount } from './format';

function alertKey(alert: DashboardAlert): string {
  return 'productId' in alert ? `${alert.kind}:${alert.productId}` : alert.kind;
}

function tone(alert: DashboardAlert): BadgeTone {
  if (alert.kind === 'ledger_broken' || alert.kind === 'sold_out') return 'danger';
  if (alert.kind === 'ledger_unverified') return 'info';
  return 'warning';
}

export function AlertList({ alerts }: { alerts: readonly DashboardAlert[] }) {
  const { t, i18n } = useTranslation('dashboard');
  const n = (value: number) => formatCount(value, i18n.language);

  function describe(alert: DashboardAlert): { title: string; hint: string; href: string; action: string } {
    switch (alert.kind) {
      case 'sold_out':
        return {
          title: t('alerts.soldOut', { name: alert.name }),
          hint: t('alerts.soldOutHint'),
          href: hrefOf('products', `import/${alert.productId}`),
          action: t('alerts.importCodes'),
        };
      case 'low_stock':
        return {
          title: t('alerts.lowStock', { name: alert.name, available: n(alert.available) }),
          hint: t('alerts.lowStockHint', { threshold: n(alert.threshold) }),
          href: hrefOf('products', `import/${alert.productId}`),
          action: t('alerts.importCodes'),
        };
      case 'needs_review':
        return {
          title: t('alerts.needsReview', { count: alert.count }),
          hint: t('alerts.needsReviewHint'),
          href: hrefOf('orders', 'needs_review'),
          action: t('alerts.openOrders'),
        };
      case 'ledger_broken':
        return {
          title: t('alerts.ledgerBroken'),
          hint:
            alert.firstBadEntry === null
              ? t('alerts.ledgerBrokenNoSeq')
              : t('alerts.ledgerBrokenHint', { seq: alert.firstBadEntry }),
          href: hrefOf('ledger'),
          action: t('alerts.openLedger'),
        };
      case 'ledger_unverified':
        return {
          title: t('alerts.ledgerUnverified'),
          hint: t('alerts.ledgerUnverifiedHint', { entries: n(alert.entries) }),
          href: hrefOf('ledger'),
          action: t('alerts.openLedger'),
        };
    }
  }

  return (
    <Card title={t('alerts.title')} className="dash-alerts">
      {alerts.length === 0 ? (
        <p className="dash-alerts__clear" role="status">
          <Badge tone="success">✓</Badge> {t('alerts.none')}
        </p>
      ) : (
        <ul className="dash-alerts__list">
          {alerts.map((alert) => {
            const text = describe(alert);
            return (
              <li key={alertKey(alert)} className={`dash-alert dash-alert--${tone(alert)}`} data-kind={alert.kind}>
                <span className={`dash-alert__dot dash-alert__dot--${tone(alert)}`} aria-hidden="true" />
                <div className="dash-alert__text">
                  <strong>{text.title}</strong>
                  <span>{text.hint}</span>
                </div>
                <a className="btn btn--ghost btn--sm" href={text.href}>
                  {text.action}
                </a>
              </li>
            );
          })}
        </ul>
      )}
    </Card>
  );
}
