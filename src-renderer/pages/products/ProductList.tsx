/** The product table: price, on-sale state, stock counts, and per-row edit / import / keys actions. */
import { useTranslation } from 'react-i18next';
import type { DashboardProduct } from '../../../shared/rpc/dashboard';
import { Badge, Button, Table, type Column } from '../../components';
import { formatCount, formatMoney } from '../dashboard/format';

export interface ProductListProps {
  readonly products: readonly DashboardProduct[];
  readonly selectedId: string | null;
  readonly onSelect: (id: string) => void;
  readonly onEdit: (product: DashboardProduct) => void;
  readonly onImport: (product: DashboardProduct) => void;
}

export function ProductList({ products, selectedId, onSelect, onEdit, onImport }: ProductListProps) {
  const { t, i18n } = useTranslation('products');
  const lang = i18n.language;
  const n = (value: number) => formatCount(value, lang);
  const columns: Column<DashboardProduct>[] = [
    { key: 'name', header: t('list.name'), render: (p) => <strong>{p.name}</strong> },
    {
      key: 'price',
      header: t('list.price'),
      align: 'end',
      render: (p) => <span className="num">{formatMoney(p.price, lang)}</span>,
    },
    {
      key: 'status',
      header: t('list.status'),
      render: (p) => (
        <span className="row">
          {p.onSale ? <Badge tone="success">{t('list.onSale')}</Badge> : <Badge>{t('list.offSale')}</Badge>}
          {p.onSale && p.stock.available === 0 ? (
            <Badge tone="danger">{t('list.soldOut')}</Badge>
          ) : p.onSale && p.low ? (
            <Badge tone="warning">{t('list.low')}</Badge>
          ) : null}
        </span>
      ),
    },
    {
      key: 'available',
      header: t('list.available'),
      align: 'end',
      render: (p) => (
        <span className="num" data-testid={`available-${p.id}`}>
          {n(p.stock.available)}
        </span>
      ),
    },
    {
      key: 'reserved',
      header: t('list.reserved'),
      align: 'end',
      render: (p) => <span className="num">{n(p.stock.reserved)}</span>,
    },
    { key: 'sold', header: t('list.sold'), align: 'end', render: (p) => <span className="num">{n(p.stock.sold)}</span> },
    {
      key: 'actions',
      header: <span className="visually-hidden">{t('list.actions')}</span>,
      align: 'end',
      render: (p) => (
        // Buttons inside a clickable row: stop the click from also selecting the row twice.
        <span
          className="row products-actions"
          onClick={(event) => event.stopPropagation()}
          onKeyDown={(event) => event.stopPropagation()}
        >
          <Button size="sm" variant="ghost" aria-label={t('list.editNamed', { name: p.name })} onClick={() => onEdit(p)}>
            {t('list.edit')}
          </Button>
          <Button size="sm" aria-label={t('list.importNamed', { name: p.name })} onClick={() => onImport(p)}>
            {t('list.import')}
          </Button>
        </span>
      ),
    },
  ];
  return (
    <Table
      caption={t('list.caption')}
      columns={columns}
      rows={products}
      rowKey={(p) => p.id}
      onRowClick={(p) => onSelect(p.id)}
      selectedKey={selectedId}
    />
  );
}
