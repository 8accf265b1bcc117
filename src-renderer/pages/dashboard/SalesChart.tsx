/**
 * Sales over time: codes sold per hour or day as bars, revenue in the main currency as a line, with the
 * period picker and the totals. The same numbers are in a visually hidden table for screen readers.
 */
import { Bar, CartesianGrid, ComposedChart, Legend, Line, Tooltip, XAxis, YAxis } from 'recharts';
import { useTranslation } from 'react-i18next';
import { currencyExponent } from '../../../shared/money';
import type { SalesSeries } from '../../../shared/rpc/dashboard';
import { Card, Field, Select } from '../../components';
import { formatBucket, formatCount, formatMoney } from './format';
import { SALES_PERIODS, type SalesPeriod } from './store';

const PERIOD_KEYS: Record<SalesPeriod, string> = { 1: 'sales.day', 7: 'sales.week', 30: 'sales.month', 90: 'sales.quarter' };

export interface SalesChartProps {
  readonly sales: SalesSeries;
  readonly days: SalesPeriod;
  readonly onDays: (days: SalesPeriod) => void;
}

export function SalesChart({ sales, days, onDays }: SalesChartProps) {
  const { t, i18n } = useTranslation('dashboard');
  const lang = i18n.language;
  // The chart draws one currency's revenue: the one that earned the most in the period.
  const main = [...sales.totals.revenue].sort((a, b) => b.amount - a.amount)[0]?.currency ?? null;
  const scale = main ? 10 ** currencyExponent(main) : 1;
  const data = sales.points.map((point) => {
    const minor = point.revenue.find((m) => m.currency === main)?.amount ?? 0;
    return {
      label: formatBucket(point.start, sales.bucket, lang),
      units: point.units,
      orders: point.orders,
      revenue: minor / scale,
      minor,
    };
  });
  const periodSelect = (
    <Field label={t('sales.range')} className="dash-period">
      <Select
        value={String(days)}
        onChange={(event) => onDays(Number(event.target.value) as SalesPeriod)}
        options={SALES_PERIODS.map((value) => ({ value: String(value), label: t(PERIOD_KEYS[value]) }))}
      />
    </Field>
  );
  const totals = [
    t('sales.totalOrders', { count: sales.totals.orders }),
    t('sales.totalUnits', { count: sales.totals.units }),
    ...sales.totals.revenue.map((money) => formatMoney(money, lang)),
  ].join(' · ');

  return (
    <Card title={t('sales.title')} subtitle={t('sales.subtitle')} actions={periodSelect} className="dash-sales">
      <p className="dash-sales__totals" data-testid="sales-totals">
        {totals}
      </p>
      {sales.totals.orders === 0 ? <p className="dash-sales__none">{t('sales.none')}</p> : null}
      <div className="dash-chart" aria-hidden="true">
        <ComposedChart
          responsive
          data={data}
          style={{ width: '100%', height: 260 }}
          margin={{ top: 8, right: 8, bottom: 0, left: 0 }}
        >
          <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="var(--border)" />
          <XAxis dataKey="label" tick={{ fontSize: 12 }} interval="preserveStartEnd" minTickGap={16} stroke="var(--text-muted)" />
          <YAxis
            yAxisId="units"
            allowDecimals={false}
            tickFormatter={(value: number) => formatCount(value, lang)}
            tick={{ fontSize: 12 }}
            width={40}
            stroke="var(--text-muted)"
          />
          {main ? (
            <YAxis
              yAxisId="revenue"
              orientation="right"
              tickFormatter={(value: number) => formatCount(value, lang)}
              tick={{ fontSize: 12 }}
              width={56}
              stroke="var(--text-muted)"
            />
          ) : null}
          <Tooltip
            formatter={(value, name, item) => {
              const payload = (item as { payload?: { minor?: number } } | undefined)?.payload;
              if (name === 'revenue' && main && payload?.minor !== undefined)
                return [formatMoney({ amount: payload.minor, currency: main }, lang), t('sales.revenue', { currency: main })];
              return [formatCount(Number(value), lang), name === 'units' ? t('sales.units') : t('sales.orders')];
            }}
          />
          <Legend
            formatter={(value) => (value === 'revenue' && main ? t('sales.revenue', { currency: main }) : t('sales.units'))}
          />
          <Bar
            yAxisId="units"
            dataKey="units"
            name="units"
            fill="var(--accent)"
            radius={[3, 3, 0, 0]}
            isAnimationActive={false}
          />
          {main ? (
            <Line
              yAxisId="revenue"
              dataKey="revenue"
              name="revenue"
              stroke="var(--info)"
              strokeWidth={2}
              dot={false}
              isAnimationActive={false}
            />
          ) : null}
        </ComposedChart>
      </div>
      <table className="visually-hidden">
        <caption>{t('sales.tableCaption')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('sales.when')}</th>
            <th scope="col">{t('sales.orders')}</th>
            <th scope="col">{t('sales.units')}</th>
          </tr>
        </thead>
        <tbody>
          {sales.points
            .filter((point) => point.orders > 0)
            .map((point) => (
              <tr key={point.start}>
                <td>{formatBucket(point.start, sales.bucket, lang)}</td>
                <td>{point.orders}</td>
                <td>{point.units}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </Card>
  );
}
