/**
 * The Orders page's state: the filtered, paged list and the order open in the detail panel. Actions take
 * the transport so tests can hand in a fake. A list answer that arrives after a newer request was sent is
 * dropped, so typing fast in the search box never shows an older result last.
 */
import { create } from 'zustand';
import type { OrderStatus } from '../../../shared/api';
import type { Output } from '../../../shared/rpc';
import type { OrderDetail, OrderRow } from '../../../shared/rpc/orders';
import type { Transport } from '../../transport/types';

export const PAGE_SIZE = 50;
export const STATUSES: readonly OrderStatus[] = ['reserved', 'paid', 'delivered', 'expired', 'refunded', 'needs_review'];

export interface OrdersState {
  readonly q: string;
  readonly status: OrderStatus | '';
  /** '' for every product. */
  readonly productId: string;
  /** The products to filter by, loaded with the first list. */
  readonly products: readonly { readonly id: string; readonly name: string }[];
  readonly offset: number;
  readonly orders: readonly OrderRow[];
  readonly total: number;
  readonly listStatus: 'idle' | 'loading' | 'ready' | 'error';
  readonly listError: unknown;
  readonly selectedId: string | null;
  readonly detail: OrderDetail | null;
  readonly detailStatus: 'idle' | 'loading' | 'ready' | 'error';
  readonly detailError: unknown;
  /** Order ids that arrived live since the page opened, highlighted in the list. */
  readonly fresh: readonly string[];
  load: (transport: Transport) => Promise<void>;
  setQuery: (transport: Transport, q: string) => Promise<void>;
  setStatus: (transport: Transport, status: OrderStatus | '') => Promise<void>;
  setProduct: (transport: Transport, productId: string) => Promise<void>;
  loadProducts: (transport: Transport) => Promise<void>;
  setOffset: (transport: Transport, offset: number) => Promise<void>;
  clearFilters: (transport: Transport) => Promise<void>;
  open: (transport: Transport, id: string | null) => Promise<void>;
  /** Reloads the open order quietly (after a reveal added to its audit trail). */
  refreshDetail: (transport: Transport) => Promise<void>;
  /** A live `order` event: refreshes the list and, when it is the open one, the detail. */
  orderChanged: (transport: Transport, orderIds: readonly string[]) => Promise<void>;
  markPaid: (transport: Transport, id: string) => Promise<Output<'orders.markPaid'>>;
  refund: (transport: Transport, id: string, keys: 'burn' | 'return', reason: string, atGateway?: boolean) => Promise<void>;
  /** Asks the order's payment channels now; resolves to how many checkouts were asked. */
  requery: (transport: Transport, id: string) => Promise<number>;
  redeliver: (
    transport: Transport,
    id: string,
    replaceKeyIds: readonly number[],
    reason: string,
  ) => Promise<Output<'orders.redeliver'>>;
  release: (transport: Transport, id: string) => Promise<void>;
  reset: () => void;
}

const INITIAL = {
  q: '',
  status: '' as const,
  productId: '',
  products: [] as readonly { readonly id: string; readonly name: string }[],
  offset: 0,
  orders: [] as readonly OrderRow[],
  total: 0,
  listStatus: 'idle' as const,
  listError: null,
  selectedId: null,
  detail: null,
  detailStatus: 'idle' as const,
  detailError: null,
  fresh: [] as readonly string[],
};

let listGeneration = 0;
let detailGeneration = 0;

export const useOrders = create<OrdersState>()((set, get) => {
  async function fetchList(transport: Transport): Promise<void> {
    const mine = ++listGeneration;
    const { q, status, productId, offset } = get();
    set((state) => ({ listStatus: state.listStatus === 'ready' ? 'ready' : 'loading' }));
    try {
      const page = await transport.call('orders.list', {
        ...(q.trim() ? { q: q.trim() } : {}),
        ...(status ? { status } : {}),
        ...(productId ? { productId } : {}),
        offset,
        limit: PAGE_SIZE,
      });
      if (mine !== listGeneration) return;
      set({ orders: page.orders, total: page.total, listStatus: 'ready', listError: null });
    } catch (error) {
      if (mine !== listGeneration) return;
      set({ listStatus: 'error', listError: error });
    }
  }

  async function fetchDetail(transport: Transport, id: string, quiet: boolean): Promise<void> {
    const mine = ++detailGeneration;
    if (!quiet) set({ detailStatus: 'loading', detail: null, detailError: null });
    try {
      const detail = await transport.call('orders.get', { id });
      if (mine !== detailGeneration || get().selectedId !== id) return;
      set({ detail, detailStatus: 'ready', detailError: null });
    } catch (error) {
      if (mine !== detailGeneration || get().selectedId !== id) return;
      set({ detailStatus: 'error', detailError: error });
    }
  }

  /** After an action: the list and the open order show the new state. */
  async function refreshAfter(transport: Transport, id: string): Promise<void> {
    await Promise.all([fetchList(transport), get().selectedId === id ? fetchDetail(transport, id, true) : Promise.resolve()]);
  }

  return {
    ...INITIAL,
    load: (transport) => fetchList(transport),
    async setQuery(transport, q) {
      set({ q, offset: 0 });
      await fetchList(transport);
    },
    async setStatus(transport, status) {
      set({ status, offset: 0 });
      await fetchList(transport);
    },
    async setProduct(transport, productId) {
      set({ productId, offset: 0 });
      await fetchList(transport);
    },
    async loadProducts(transport) {
      try {
        const { products } = await transport.call('products.list', {});
        set({ products: products.map((p) => ({ id: p.id, name: p.name })) });
      } catch {
        // The filter is a convenience: without it the list still works.
      }
    },
    async setOffset(transport, offset) {
      set({ offset: Math.max(0, offset) });
      await fetchList(transport);
    },
    async clearFilters(transport) {
      set({ q: '', status: '', productId: '', offset: 0 });
      await fetchList(transport);
    },
    async open(transport, id) {
      if (get().selectedId === id && (get().detailStatus === 'ready' || get().detailStatus === 'loading')) return;
      set((state) => ({
        selectedId: id,
        detail: null,
        detailStatus: id ? 'loading' : 'idle',
        detailError: null,
        // Seen now: no longer marked new.
        fresh: id ? state.fresh.filter((f) => f !== id) : state.fresh,
      }));
      if (id) await fetchDetail(transport, id, false);
    },
    async refreshDetail(transport) {
      const id = get().selectedId;
      if (id) await fetchDetail(transport, id, true);
    },
    async orderChanged(transport, orderIds) {
      const known = new Set(get().orders.map((o) => o.id));
      const arrived = orderIds.filter((id) => !known.has(id));
      if (arrived.length > 0) set((state) => ({ fresh: [...new Set([...state.fresh, ...arrived])].slice(-50) }));
      const selected = get().selectedId;
      await Promise.all([
        fetchList(transport),
        selected && orderIds.includes(selected) ? fetchDetail(transport, selected, true) : Promise.resolve(),
      ]);
    },
    async markPaid(transport, id) {
      const result = await transport.call('orders.markPaid', { id });
      await refreshAfter(transport, id);
      return result;
    },
    async refund(transport, id, keys, reason, atGateway = false) {
      await transport.call('orders.refund', { id, keys, reason, atGateway });
      await refreshAfter(transport, id);
    },
    async requery(transport, id) {
      const { asked } = await transport.call('orders.requery', { id });
      await refreshAfter(transport, id);
      return asked;
    },
    async redeliver(transport, id, replaceKeyIds, reason) {
      const result = await transport.call('orders.redeliver', { id, replaceKeyIds: [...replaceKeyIds], reason });
      await refreshAfter(transport, id);
      return result;
    },
    async release(transport, id) {
      await transport.call('orders.release', { id });
      await refreshAfter(transport, id);
    },
    reset() {
      listGeneration++;
      detailGeneration++;
      set(INITIAL);
    },
  };
});
