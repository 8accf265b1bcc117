/**
 * The dashboard's state: the summary (stock, alerts, ledger) and the sales series for the chosen period.
 * Actions take the transport so tests can hand in a fake; a response that arrives after a newer request
 * was sent is dropped, so a slow answer never overwrites a fresher one.
 */
import { create } from 'zustand';
import type { DashboardSummary, LedgerState, SalesSeries } from '../../../shared/rpc/dashboard';
import type { Transport } from '../../transport/types';

export const SALES_PERIODS = [1, 7, 30, 90] as const;
export type SalesPeriod = (typeof SALES_PERIODS)[number];

export interface DashboardState {
  readonly summary: DashboardSummary | null;
  readonly sales: SalesSeries | null;
  readonly days: SalesPeriod;
  readonly status: 'idle' | 'loading' | 'ready' | 'error';
  readonly error: unknown;
  readonly verifying: boolean;
  readonly verifyError: unknown;
  /** Loads the summary and the sales together (first load, refresh button, live events). */
  load: (transport: Transport) => Promise<void>;
  setDays: (transport: Transport, days: SalesPeriod) => Promise<void>;
  verifyLedger: (transport: Transport) => Promise<void>;
  reset: () => void;
}

const INITIAL = {
  summary: null,
  sales: null,
  days: 7 as SalesPeriod,
  status: 'idle' as const,
  error: null,
  verifying: false,
  verifyError: null,
};

let generation = 0;

function salesInput(days: number) {
  return { days, tzOffsetMinutes: new Date().getTimezoneOffset() };
}

export const useDashboard = create<DashboardState>()((set, get) => ({
  ...INITIAL,

  async load(transport) {
    const mine = ++generation;
    set((state) => ({ status: state.summary ? state.status : 'loading' }));
    try {
      const [summary, sales] = await Promise.all([
        transport.call('dashboard.summary', {}),
        transport.call('dashboard.sales', salesInput(get().days)),
      ]);
      if (mine !== generation) return;
      set({ summary, sales, status: 'ready', error: null });
    } catch (error) {
      if (mine !== generation) return;
      set({ status: 'error', error });
    }
  },

  async setDays(transport, days) {
    const mine = ++generation;
    set({ days });
    try {
      const sales = await transport.call('dashboard.sales', salesInput(days));
      if (mine !== generation) return;
      set({ sales, error: null });
    } catch (error) {
      if (mine !== generation) return;
      set({ status: 'error', error });
    }
  },

  async verifyLedger(transport) {
    set({ verifying: true, verifyError: null });
    try {
      const ledger: LedgerState = await transport.call('dashboard.verifyLedger', {});
      // Reload the summary too: its alerts follow the new verdict.
      set((state) => ({ verifying: false, summary: state.summary ? { ...state.summary, ledger } : state.summary }));
      await get().load(transport);
    } catch (error) {
      set({ verifying: false, verifyError: error });
    }
  },

  reset() {
    generation++;
    set(INITIAL);
  },
}));
