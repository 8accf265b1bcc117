/**
 * Stock per product as stacked horizontal bars (available, reserved, sold), with a table of the same
 * numbers under it: the chart for a glance, the table for the exact counts and the alert thresholds.
 */
import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';
import { useTranslation } from 'react-i18next';
import type { DashboardProduct } from '../../../shared/rpc/dashboard';
import { Badge, Card, Table, type Column } from '../../components';
import { formatCount } from './format';

const ROW_HEIGHT = 34;

export function StockChart({ products }: { products: readonly DashboardProduct[] }) {
  const { t, i18n } = useTranslation('dashboard');
  const n = (value: number) => formatCount(value, i18n.language);
  const data = products.map((p) => ({
    name: p.name,
    available: p.stock.available,
    reserved: p.stock.reserved,
    sold: p.stock.sold,
  }));
  const label = (key: string) => t(`totals.${key}`);

  const columns: Column<DashboardProduct>[] = [
    {
      key: 'name',
      header: t('stock.product'),
      render: (p) => (
        <span className="dash-stock__name">
          {p.name}
          {!p.onSale ? (
            <Badge tone="neutral">{t('stock.offSale')}</Badge>
          ) : p.stock.available === 0 ? (
            <Badge tone="danger">{t('stock.soldOut')}</Badge>
          ) : p.low ? (
            <Badge tone="warning">{t('stock.low')}</Badge>
          ) : null}
        </span>
      ),
    },
    { key: 'available', header: t('totals.available'), align: 'end', render: (p) => n(p.stock.available) },
    { key: 'reserved', header: t('totals.reserved'), align: 'end', render: (p) => n(p.stock.reserved) },
    { key: 'sold', header: t('totals.sold'), align: 'end', render: (p) => n(p.stock.sold) },
    { key: 'threshold', header: t('stock.threshold'), align: 'end', render: (p) => n(p.lowStockThreshold) },
  ];

  return (
    <Card title={t('stock.title')} subtitle={t('stock.subtitle')} className="dash-stock">
      <div className="dash-chart" aria-hidden="true">
        <BarChart
          responsive
          layout="vertical"
          data={data}
          style={{ width: '100%', height: Math.max(120, data.length * ROW_HEIGHT + 60) }}
          margin={{ top: 4, right: 16, bottom: 4, left: 8 }}
        >
          <CartesianGrid strokeDasharray="3 3" horizontal={false} stroke="var(--border)" />
          <XAxis
            type="number"
            allowDecimals={false}
            tickFormatter={(value: number) => n(value)}
            tick={{ fontSize: 12 }}
            stroke="var(--text-muted)"
          />
          <YAxis type="category" dataKey="name" width={140} tick={{ fontSize: 12 }} stroke="var(--text-muted)" />
          <Tooltip formatter={(value, name) => [n(Number(value)), label(String(name))]} />
          <Legend formatter={(value) => label(String(value))} />
          <Bar dataKey="available" stackId="stock" fill="var(--success)" isAnimationActive={false} />
          <Bar dataKey="reserved" stackId="stock" fill="var(--warning)" isAnimationActive={false} />
          <Bar dataKey="sold" stackId="stock" fill="var(--accent)" isAnimationActive={false} />
        </BarChart>
      </div>
      <Table caption={t('stock.tableCaption')} columns={columns} rows={products} rowKey={(p) => p.id} />
    </Card>
  );
}
