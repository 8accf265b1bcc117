/**
 * The products page's product list: products with their stock and low-stock thresholds (from
 * `dashboard.summary`, which carries both), the selected product, and create/update. Actions take the
 * transport so tests can hand in a fake; an answer older than the latest request is dropped.
 */
import { create } from 'zustand';
import type { CreateProductBody } from '../../../shared/api';
import type { DashboardProduct } from '../../../shared/rpc/dashboard';
import type { Transport } from '../../transport/types';

export interface ProductDraft extends CreateProductBody {
  /** The product's own low-stock threshold; null uses the shop default. */
  readonly lowStockThreshold: number | null;
}

export interface ProductsState {
  readonly products: readonly DashboardProduct[];
  readonly defaultThreshold: number;
  readonly status: 'idle' | 'loading' | 'ready' | 'error';
  readonly error: unknown;
  readonly selectedId: string | null;
  load: (transport: Transport) => Promise<void>;
  select: (id: string | null) => void;
  /** Creates or (with `id`) updates a product and its threshold; returns the saved product's id. */
  save: (transport: Transport, draft: ProductDraft, id?: string) => Promise<string>;
  reset: () => void;
}

const INITIAL = { products: [], defaultThreshold: 10, status: 'idle' as const, error: null, selectedId: null };
let generation = 0;

export const useProducts = create<ProductsState>()((set, get) => ({
  ...INITIAL,

  async load(transport) {
    const mine = ++generation;
    if (get().status === 'idle') set({ status: 'loading' });
    try {
      const summary = await transport.call('dashboard.summary', {});
      if (mine !== generation) return;
      const selectedId = get().selectedId;
      set({
        products: summary.products,
        defaultThreshold: summary.defaultLowStockThreshold,
        status: 'ready',
        error: null,
        // Keep the selection while it exists; otherwise show the first product's keys.
        selectedId: summary.products.some((p) => p.id === selectedId) ? selectedId : (summary.products[0]?.id ?? null),
      });
    } catch (error) {
      if (mine !== generation) return;
      set({ status: 'error', error });
    }
  },

  select(id) {
    set({ selectedId: id });
  },

  async save(transport, draft, id) {
    const body = { name: draft.name.trim(), price: draft.price, onSale: draft.onSale ?? true };
    const before = id === undefined ? undefined : get().products.find((p) => p.id === id);
    const { product } =
      id === undefined ? await transport.call('products.create', body) : await transport.call('products.update', { ...body, id });
    const ownBefore = before?.thresholdSource === 'product' ? before.lowStockThreshold : null;
    if (draft.lowStockThreshold !== ownBefore) {
      await transport.call('dashboard.setLowStockThreshold', { productId: product.id, threshold: draft.lowStockThreshold });
    }
    set({ selectedId: product.id });
    await get().load(transport);
    return product.id;
  },

  reset() {
    generation++;
    set(INITIAL);
  },
}));
