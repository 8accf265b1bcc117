/**
 * Products and keys: the product list with create/edit, the import dialog, and the selected product's
 * key table. `#/products/new` opens the create dialog and `#/products/import/<id>` the import dialog,
 * so the dashboard's alerts can link straight to the fix. Stock refreshes live (debounced).
 */
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { DashboardProduct } from '../../../shared/rpc/dashboard';
import { Button, Card, describeError, EmptyState, Spinner } from '../../components';
import { navigate, useRoute } from '../../shell/router';
import { useTransport } from '../../transport';
import { useDebouncedLive } from '../dashboard/live';
import { ImportDialog } from './ImportDialog';
import { KeyTable } from './KeyTable';
import { ProductDialog } from './ProductDialog';
import { ProductList } from './ProductList';
import './products.css';
import { useProducts } from './store';

type Open =
  { kind: 'create' } | { kind: 'edit'; product: DashboardProduct } | { kind: 'import'; product: DashboardProduct } | null;

export function ProductsPage() {
  const { t } = useTranslation('products');
  const transport = useTransport();
  const route = useRoute();
  const { products, status, error, selectedId, load, select } = useProducts();
  const [open, setOpen] = useState<Open>(null);

  useEffect(() => {
    void load(transport);
  }, [load, transport]);
  useDebouncedLive(['stock', 'order'], () => void load(transport));

  // Deep links from the dashboard: #/products/new, #/products/import/<id>.
  useEffect(() => {
    if (route.rest === 'new') setOpen({ kind: 'create' });
    const match = /^import\/(.+)$/.exec(route.rest);
    if (match && status === 'ready') {
      const product = products.find((p) => p.id === decodeURIComponent(match[1] ?? ''));
      if (product) {
        select(product.id);
        setOpen({ kind: 'import', product });
      }
    }
  }, [route.rest, status, products, select]);

  const close = () => {
    setOpen(null);
    if (route.rest !== '') navigate('products');
  };

  if (status === 'error' && products.length === 0) {
    return (
      <EmptyState
        title={t('loadFailed')}
        hint={describeError(t, error)}
        action={<Button onClick={() => void load(transport)}>{t('actions.retry', { ns: 'common' })}</Button>}
      />
    );
  }
  if (status === 'idle' || status === 'loading') return <Spinner size="lg" />;

  const selected = products.find((p) => p.id === selectedId) ?? null;
  const newButton = (
    <Button variant="primary" onClick={() => setOpen({ kind: 'create' })}>
      {t('newProduct')}
    </Button>
  );

  return (
    <div className="products">
      {products.length === 0 ? (
        <Card>
          <EmptyState title={t('empty.title')} hint={t('empty.hint')} action={newButton} />
        </Card>
      ) : (
        <>
          <Card title={t('list.caption')} actions={newButton} flush>
            <ProductList
              products={products}
              selectedId={selectedId}
              onSelect={select}
              onEdit={(product) => setOpen({ kind: 'edit', product })}
              onImport={(product) => {
                select(product.id);
                setOpen({ kind: 'import', product });
              }}
            />
          </Card>
          {selected ? (
            <KeyTable key={selected.id} product={selected} onImport={() => setOpen({ kind: 'import', product: selected })} />
          ) : null}
        </>
      )}
      {open?.kind === 'create' ? <ProductDialog onClose={close} /> : null}
      {open?.kind === 'edit' ? <ProductDialog product={open.product} onClose={close} /> : null}
      {open?.kind === 'import' ? <ImportDialog product={open.product} onClose={close} /> : null}
    </div>
  );
}
