/**
 * The key table's data: a window onto up to millions of key rows. Rows are fetched in fixed pages as the
 * table scrolls (only the pages in view, a few at a time), pages far from the view are forgotten so
 * memory stays bounded, and a change of product or status filter starts over. Revealed codes live only
 * here, in memory, and are dropped with the product.
 */
import { create } from 'zustand';
import type { Transport } from '../../transport/types';
import { fetchKeyPage, type KeyRow, type KeyStatus } from './keys-api';

export const PAGE_SIZE = 200;
/** Pages kept in memory at most (the view needs two or three; the rest make scrolling back instant). */
const MAX_PAGES = 40;

export interface KeysState {
  readonly productId: string | null;
  readonly status: KeyStatus | null;
  /** Rows matching the filter; null until the first page arrives. */
  readonly total: number | null;
  readonly pages: ReadonlyMap<number, readonly KeyRow[]>;
  readonly error: unknown;
  /** Plaintext codes the user asked to see, by key id. */
  readonly revealed: ReadonlyMap<number, string>;
  /** Starts over for a product and filter. */
  open: (transport: Transport, productId: string, status: KeyStatus | null) => Promise<void>;
  /** Makes sure rows [first, last] are loaded (or loading). */
  ensure: (transport: Transport, first: number, last: number) => Promise<void>;
  /** Re-fetches the rows [first, last] and the total, and forgets the other pages (stock changed). */
  refresh: (transport: Transport, first: number, last: number) => Promise<void>;
  setRevealed: (keyId: number, code: string | null) => void;
  rowAt: (index: number) => KeyRow | undefined;
}

let generation = 0;
const inFlight = new Set<string>();
const touched = new Map<number, number>();
let tick = 0;

export const useKeys = create<KeysState>()((set, get) => {
  async function loadPage(transport: Transport, page: number, mine: number): Promise<void> {
    const { productId, status } = get();
    if (productId === null) return;
    const flightKey = `${mine}:${page}`;
    if (inFlight.has(flightKey)) return;
    inFlight.add(flightKey);
    try {
      const result = await fetchKeyPage(transport, { productId, status, offset: page * PAGE_SIZE, limit: PAGE_SIZE });
      if (mine !== generation) return;
      touched.set(page, ++tick);
      set((state) => {
        const pages = new Map(state.pages);
        pages.set(page, result.rows);
        // Forget the least recently used pages beyond the budget.
        if (pages.size > MAX_PAGES) {
          const oldest = [...pages.keys()]
            .sort((a, b) => (touched.get(a) ?? 0) - (touched.get(b) ?? 0))
            .slice(0, pages.size - MAX_PAGES);
          for (const key of oldest) {
            pages.delete(key);
            touched.delete(key);
          }
        }
        return { pages, total: result.total, error: null };
      });
    } catch (error) {
      if (mine === generation) set({ error });
    } finally {
      inFlight.delete(flightKey);
    }
  }

  return {
    productId: null,
    status: null,
    total: null,
    pages: new Map(),
    error: null,
    revealed: new Map(),

    async open(transport, productId, status) {
      const mine = ++generation;
      touched.clear();
      const sameProduct = get().productId === productId;
      set({ productId, status, total: null, pages: new Map(), error: null, revealed: sameProduct ? get().revealed : new Map() });
      await loadPage(transport, 0, mine);
    },

    async ensure(transport, first, last) {
      const mine = generation;
      const firstPage = Math.floor(Math.max(0, first) / PAGE_SIZE);
      const lastPage = Math.floor(Math.max(0, last) / PAGE_SIZE);
      const { pages } = get();
      const wanted: Promise<void>[] = [];
      for (let page = firstPage; page <= lastPage; page++) {
        if (pages.has(page)) touched.set(page, ++tick);
        else wanted.push(loadPage(transport, page, mine));
      }
      await Promise.all(wanted);
    },

    async refresh(transport, first, last) {
      const mine = ++generation;
      touched.clear();
      // Keep the rows on screen until their fresh copies arrive, so the table does not flash.
      const firstPage = Math.floor(Math.max(0, first) / PAGE_SIZE);
      const lastPage = Math.floor(Math.max(0, last) / PAGE_SIZE);
      set((state) => ({ pages: new Map([...state.pages].filter(([page]) => page >= firstPage && page <= lastPage)) }));
      const wanted: Promise<void>[] = [];
      for (let page = firstPage; page <= lastPage; page++) wanted.push(loadPage(transport, page, mine));
      await Promise.all(wanted);
    },

    setRevealed(keyId, code) {
      set((state) => {
        const revealed = new Map(state.revealed);
        if (code === null) revealed.delete(keyId);
        else revealed.set(keyId, code);
        return { revealed };
      });
    },

    rowAt(index) {
      return get().pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
    },
  };
});
