/**
 * The Orders page: search by order number or e-mail, filter by status, page through the list; the order
 * chosen opens beside it (`#/orders/<id>`) with its life cycle and the support actions. A purchase that
 * arrives over HTTP shows up without a reload (live `order` events).
 */
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { OrderStatus } from '../../../shared/api';
import type { OrderRow } from '../../../shared/rpc/orders';
import { Button, type Column, describeError, EmptyState, Field, Input, Select, Spinner, Table } from '../../components';
import { navigate, useRoute } from '../../shell/router';
import { useTransport } from '../../transport';
import { formatMoney, formatTime } from '../dashboard/format';
import { useDebouncedLive } from '../dashboard/live';
import { OrderDetailPanel } from './OrderDetailPanel';
import './orders.css';
import { StatusBadge } from './StatusBadge';
import { PAGE_SIZE, STATUSES, useOrders } from './store';

const SEARCH_DELAY_MS = 250;

/** Day and time without the year: the list is about recent orders; the full date is in the tooltip. */
function formatShortTime(iso: string, language: string): string {
  return new Intl.DateTimeFormat(language, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(
    new Date(iso),
  );
}

export function OrdersPage() {
  const { t, i18n } = useTranslation('orders');
  const transport = useTransport();
  const route = useRoute();
  const state = useOrders();
  const { load, loadProducts, open, setQuery, setStatus, setProduct, setOffset, clearFilters, orderChanged } = state;
  const [search, setSearch] = useState(state.q);
  const rest = route.pageId === 'orders' && route.rest ? decodeURIComponent(route.rest) : null;
  // `#/orders/<status>` (the dashboard's "needs review" alert) filters; `#/orders/<id>` opens an order.
  const routeStatus = rest !== null && (STATUSES as readonly string[]).includes(rest) ? (rest as OrderStatus) : null;
  const routeId = routeStatus === null ? rest : null;

  useEffect(() => {
    if (routeStatus !== null) void setStatus(transport, routeStatus);
    else void load(transport);
  }, [load, setStatus, transport, routeStatus]);
  useEffect(() => {
    void loadProducts(transport);
  }, [loadProducts, transport]);
  useEffect(() => {
    void open(transport, routeId);
  }, [open, transport, routeId]);
  useEffect(() => {
    if (search === useOrders.getState().q) return;
    const timer = setTimeout(() => void setQuery(transport, search), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [search, setQuery, transport]);
  useDebouncedLive(['order'], (events) => {
    const ids = events.flatMap((e) => (e.type === 'order' ? [e.orderId] : []));
    void orderChanged(transport, ids);
  });

  const lang = i18n.language;
  const fresh = new Set(state.fresh);
  const columns: Column<OrderRow>[] = [
    {
      key: 'id',
      header: t('columns.id'),
      render: (o) => (
        <span className="order-id" data-order-id={o.id}>
          <span className="mono order-id__text" title={o.id}>
            {o.id}
          </span>
          {fresh.has(o.id) ? <span className="order-new" role="img" aria-label={t('list.arrived', { id: o.id })} /> : null}
        </span>
      ),
    },
    {
      key: 'created',
      header: t('columns.created'),
      render: (o) => (
        <time className="nowrap" dateTime={o.createdAt} title={formatTime(o.createdAt, lang)}>
          {formatShortTime(o.createdAt, lang)}
        </time>
      ),
    },
    {
      key: 'email',
      header: t('columns.email'),
      render: (o) => (
        <span className="cell-clip" title={o.email}>
          {o.email}
        </span>
      ),
    },
    {
      key: 'product',
      header: t('columns.product'),
      render: (o) => <span className="cell-clip">{o.productName ?? o.productId}</span>,
    },
    { key: 'quantity', header: t('columns.quantity'), align: 'end', render: (o) => <span className="num">{o.quantity}</span> },
    {
      key: 'amount',
      header: t('columns.amount'),
      align: 'end',
      render: (o) => <span className="num">{formatMoney({ amount: o.amount, currency: o.currency }, lang)}</span>,
    },
    {
      key: 'status',
      header: t('columns.status'),
      render: (o) => (
        <span className="nowrap">
          <StatusBadge status={o.status} />
        </span>
      ),
    },
  ];
  // Beside an open order the list keeps the columns that tell orders apart.
  const shown = state.selectedId ? columns.filter((c) => !['product', 'quantity', 'created'].includes(c.key)) : columns;
  const filtered = state.q.trim() !== '' || state.status !== '' || state.productId !== '';
  const from = state.total === 0 ? 0 : state.offset + 1;
  const to = Math.min(state.offset + PAGE_SIZE, state.total);

  return (
    <div className={['orders', state.selectedId ? 'orders--with-panel' : ''].filter(Boolean).join(' ')}>
      <div className="orders__main">
        <div className="orders__toolbar">
          <Field label={t('search.label')} className="orders__search">
            <Input
              type="search"
              value={search}
              placeholder={t('search.placeholder')}
              onChange={(event) => setSearch(event.target.value)}
            />
          </Field>
          <Field label={t('filter.status')} className="orders__filter">
            <Select
              value={state.status}
              onChange={(event) => void setStatus(transport, event.target.value as OrderStatus | '')}
              options={[{ value: '', label: t('filter.all') }, ...STATUSES.map((s) => ({ value: s, label: t(`status.${s}`) }))]}
            />
          </Field>
          {state.products.length > 1 ? (
            <Field label={t('filter.product')} className="orders__filter">
              <Select
                value={state.productId}
                onChange={(event) => void setProduct(transport, event.target.value)}
                options={[
                  { value: '', label: t('filter.allProducts') },
                  ...state.products.map((p) => ({ value: p.id, label: p.name })),
                ]}
              />
            </Field>
          ) : null}
          <div className="orders__tools">
            <span className="muted orders__live" aria-live="polite">
              {t('list.live')}
            </span>
            <Button size="sm" variant="ghost" onClick={() => void load(transport)}>
              {t('actions.refresh', { ns: 'common' })}
            </Button>
          </div>
        </div>

        {state.listStatus === 'error' && state.orders.length === 0 ? (
          <EmptyState
            title={t('list.loadFailed')}
            hint={describeError(t, state.listError)}
            action={<Button onClick={() => void load(transport)}>{t('actions.retry', { ns: 'common' })}</Button>}
          />
        ) : state.listStatus !== 'ready' && state.orders.length === 0 ? (
          <Spinner size="lg" />
        ) : state.total === 0 ? (
          filtered ? (
            <EmptyState
              title={t('list.noMatchTitle')}
              hint={t('list.noMatchHint')}
              action={
                <Button
                  onClick={() => {
                    setSearch('');
                    void clearFilters(transport);
                  }}
                >
                  {t('list.clearFilters')}
                </Button>
              }
            />
          ) : (
            <EmptyState title={t('list.emptyTitle')} hint={t('list.emptyHint')} />
          )
        ) : (
          <>
            <Table
              columns={shown}
              rows={state.orders}
              rowKey={(o) => o.id}
              caption={t('list.caption')}
              selectedKey={state.selectedId}
              onRowClick={(o) => navigate('orders', encodeURIComponent(o.id))}
            />
            <div className="orders__pager">
              <span className="muted">{t('list.range', { from, to, total: state.total })}</span>
              <div className="row">
                <Button
                  size="sm"
                  disabled={state.offset === 0}
                  onClick={() => void setOffset(transport, state.offset - PAGE_SIZE)}
                >
                  {t('list.previous')}
                </Button>
                <Button
                  size="sm"
                  disabled={to >= state.total}
                  onClick={() => void setOffset(transport, state.offset + PAGE_SIZE)}
                >
                  {t('list.next')}
                </Button>
              </div>
            </div>
          </>
        )}
      </div>
      <OrderDetailPanel onClose={() => navigate('orders')} />
    </div>
  );
}
