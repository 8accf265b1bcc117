/**
 * The Ledger page's state: pages of entries, newest first ("load older" appends), and the last
 * verification report. Actions take the transport so tests can hand in a fake.
 */
import { create } from 'zustand';
import type { LedgerVerify } from '../../../shared/api';
import type { LedgerEntry } from '../../../shared/rpc/ledger';
import type { Transport } from '../../transport/types';

export const LEDGER_PAGE = 100;

export interface LedgerState {
  readonly entries: readonly LedgerEntry[];
  readonly head: number;
  readonly nextBeforeSeq: number | null;
  readonly status: 'idle' | 'loading' | 'ready' | 'error';
  readonly error: unknown;
  readonly loadingMore: boolean;
  /** The newest entry on the server is newer than the newest shown. */
  readonly behind: boolean;
  readonly report: LedgerVerify | null;
  readonly verifying: boolean;
  readonly verifyError: unknown;
  /** First page: the newest entries, or the page that ends at `fromSeq` (to show a bad entry). */
  load: (transport: Transport, fromSeq?: number) => Promise<void>;
  loadOlder: (transport: Transport) => Promise<void>;
  /** Something was written: reload when the newest entries are on screen, else just say so. */
  changed: (transport: Transport) => Promise<void>;
  verify: (transport: Transport) => Promise<void>;
  reset: () => void;
}

const INITIAL = {
  entries: [] as readonly LedgerEntry[],
  head: 0,
  nextBeforeSeq: null,
  status: 'idle' as const,
  error: null,
  loadingMore: false,
  behind: false,
  report: null,
  verifying: false,
  verifyError: null,
};

let generation = 0;

export const useLedger = create<LedgerState>()((set, get) => ({
  ...INITIAL,
  async load(transport, fromSeq) {
    const mine = ++generation;
    set((state) => ({ status: state.status === 'ready' ? 'ready' : 'loading' }));
    try {
      const page = await transport.call('ledger.list', {
        limit: LEDGER_PAGE,
        ...(fromSeq !== undefined ? { beforeSeq: fromSeq + 1 } : {}),
      });
      if (mine !== generation) return;
      const showsNewest = page.entries[0]?.seq === page.head || page.head === 0;
      set({
        entries: page.entries,
        head: page.head,
        nextBeforeSeq: page.nextBeforeSeq,
        status: 'ready',
        error: null,
        behind: !showsNewest,
      });
    } catch (error) {
      if (mine !== generation) return;
      set({ status: 'error', error });
    }
  },
  async loadOlder(transport) {
    const before = get().nextBeforeSeq;
    if (before === null || get().loadingMore) return;
    const mine = generation;
    set({ loadingMore: true });
    try {
      const page = await transport.call('ledger.list', { limit: LEDGER_PAGE, beforeSeq: before });
      if (mine !== generation) return;
      set((state) => ({ entries: [...state.entries, ...page.entries], nextBeforeSeq: page.nextBeforeSeq, loadingMore: false }));
    } catch (error) {
      if (mine !== generation) return;
      set({ loadingMore: false, error });
    }
  },
  async changed(transport) {
    const { entries, head } = get();
    if (entries.length === 0 || entries[0]?.seq === head) await get().load(transport);
    else set({ behind: true });
  },
  async verify(transport) {
    set({ verifying: true, verifyError: null });
    try {
      const report = await transport.call('ledger.verify', {});
      set({ report, verifying: false });
    } catch (error) {
      set({ verifying: false, verifyError: error });
    }
  },
  reset() {
    generation++;
    set(INITIAL);
  },
}));
