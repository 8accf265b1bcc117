/** The three stock totals at the top of the dashboard: available, reserved, sold. */
import { useTranslation } from 'react-i18next';
import type { DashboardSummary } from '../../../shared/rpc/dashboard';
import { formatCount } from './format';

export function StatTiles({ summary }: { summary: DashboardSummary }) {
  const { t, i18n } = useTranslation('dashboard');
  const tiles = [
    { key: 'available', value: summary.totals.available, hint: t('totals.availableHint'), label: t('totals.available') },
    { key: 'reserved', value: summary.totals.reserved, hint: t('totals.reservedHint'), label: t('totals.reserved') },
    { key: 'sold', value: summary.totals.sold, hint: t('totals.soldHint'), label: t('totals.sold') },
  ] as const;
  return (
    <section className="dash-tiles" aria-label={t('totals.label')}>
      {tiles.map((tile) => (
        <div key={tile.key} className={`dash-tile dash-tile--${tile.key}`} data-testid={`total-${tile.key}`}>
          <span className="dash-tile__label">{tile.label}</span>
          <span className="dash-tile__value">{formatCount(tile.value, i18n.language)}</span>
          <span className="dash-tile__hint">{tile.hint}</span>
        </div>
      ))}
    </section>
  );
}
