/**
 * The Reconcile page's state: the last report, the filter (kind, open/resolved, search), the selection
 * for bulk actions, the imported statements and the dispute lookup. Actions take the transport so tests
 * hand in a fake; a newer run always wins over an older answer.
 */
import { create } from 'zustand';
import type {
  ActionRequest,
  ActionResult,
  FindingKind,
  LookupResult,
  ReconcileFinding,
  ReconcileReport,
  StatementFormat,
  StatementInfo,
} from '../../../shared/reconcile';
import type { Transport } from '../../transport/types';

export type StatusFilter = 'open' | 'resolved' | 'all';

export interface ImportOutcome {
  readonly source: string;
  readonly imported: number;
  readonly duplicates: number;
  readonly skipped: number;
  /** The period the bill was compared over and which rule set it (null when nothing new was stored). */
  readonly periodStart: string | null;
  readonly periodEnd: string | null;
  readonly periodRule: 'declared' | 'row_days' | 'given' | null;
}

/** The period the importer gives: the shop's time zone and whole-day bounds (YYYY-MM-DD), each optional. */
export interface PeriodChoice {
  readonly timeZone?: string;
  readonly from?: string;
  readonly to?: string;
}

export interface ReconcileState {
  readonly report: ReconcileReport | null;
  readonly status: 'idle' | 'loading' | 'ready' | 'error';
  readonly error: unknown;
  readonly kind: FindingKind | null;
  readonly statusFilter: StatusFilter;
  readonly search: string;
  readonly selected: ReadonlySet<string>;
  readonly statements: readonly StatementInfo[];
  readonly lastImport: ImportOutcome | null;
  readonly lookup: LookupResult | null;
  readonly lookupBusy: boolean;
  readonly lookupError: unknown;
  load: (transport: Transport) => Promise<void>;
  setKind: (kind: FindingKind | null) => void;
  setStatusFilter: (status: StatusFilter) => void;
  setSearch: (search: string) => void;
  toggle: (id: string) => void;
  clearSelection: () => void;
  importStatement: (
    transport: Transport,
    file: { name: string; bytes: Uint8Array },
    format: StatementFormat | null,
    period?: PeriodChoice,
  ) => Promise<ImportOutcome>;
  act: (transport: Transport, request: ActionRequest) => Promise<ActionResult>;
  runLookup: (transport: Transport, query: string) => Promise<void>;
  reset: () => void;
}

const INITIAL = {
  report: null,
  status: 'idle' as const,
  error: null,
  kind: null,
  statusFilter: 'open' as StatusFilter,
  search: '',
  selected: new Set<string>() as ReadonlySet<string>,
  statements: [] as readonly StatementInfo[],
  lastImport: null,
  lookup: null,
  lookupBusy: false,
  lookupError: null,
};

let generation = 0;

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(binary);
}

export const useReconcile = create<ReconcileState>()((set, get) => ({
  ...INITIAL,
  async load(transport) {
    const mine = ++generation;
    set((s) => ({ status: s.report ? 'ready' : 'loading', error: null }));
    try {
      const [report, { statements }] = await Promise.all([
        transport.call('reconcile.run', {}),
        transport.call('reconcile.statements', {}),
      ]);
      if (mine !== generation) return;
      const ids = new Set(report.findings.map((f) => f.id));
      set((s) => ({ report, statements, status: 'ready', selected: new Set([...s.selected].filter((id) => ids.has(id))) }));
    } catch (error) {
      if (mine === generation) set({ status: 'error', error });
    }
  },
  setKind: (kind) => set({ kind, selected: new Set() }),
  setStatusFilter: (statusFilter) => set({ statusFilter, selected: new Set() }),
  setSearch: (search) => set({ search }),
  toggle(id) {
    const selected = new Set(get().selected);
    if (selected.has(id)) selected.delete(id);
    else selected.add(id);
    set({ selected });
  },
  clearSelection: () => set({ selected: new Set() }),
  async importStatement(transport, file, format, period = {}) {
    const result = await transport.call('reconcile.importStatement', {
      fileName: file.name,
      base64: toBase64(file.bytes),
      ...(format ? { format } : {}),
      ...(period.timeZone ? { timeZone: period.timeZone } : {}),
      ...(period.from ? { from: period.from } : {}),
      ...(period.to ? { to: period.to } : {}),
    });
    const outcome = {
      source: result.statement?.source ?? file.name,
      imported: result.imported,
      duplicates: result.duplicates,
      skipped: result.skipped.length,
      periodStart: result.statement?.periodStart ?? null,
      periodEnd: result.statement?.periodEnd ?? null,
      periodRule: result.statement?.periodRule ?? null,
    };
    set({ lastImport: outcome });
    await get().load(transport);
    return outcome;
  },
  async act(transport, request) {
    const result = await transport.call('reconcile.action', request);
    if (!result.preview) {
      set({ selected: new Set() });
      await get().load(transport);
    }
    return result;
  },
  async runLookup(transport, query) {
    set({ lookupBusy: true, lookupError: null });
    try {
      set({ lookup: await transport.call('reconcile.lookup', { query }), lookupBusy: false });
    } catch (error) {
      set({ lookupBusy: false, lookupError: error, lookup: null });
    }
  },
  reset: () => {
    generation++;
    set({ ...INITIAL, selected: new Set() });
  },
}));

/** The findings the filter lets through, in report order. */
export function visibleFindings(
  report: ReconcileReport | null,
  kind: FindingKind | null,
  status: StatusFilter,
  search: string,
): ReconcileFinding[] {
  if (!report) return [];
  const needle = search.trim().toLowerCase();
  return report.findings.filter(
    (f) =>
      (kind === null || f.kind === kind) &&
      (status === 'all' || f.status === status) &&
      (needle === '' ||
        [f.id, f.summary, f.orderId ?? '', f.paymentId ?? '', f.productId ?? '', ...f.keyIds.map(String)].some((v) =>
          v.toLowerCase().includes(needle),
        )),
  );
}

/** Money at stake per currency, for a group of findings. */
export function amountsByCurrency(findings: readonly ReconcileFinding[]): { currency: string; amount: number }[] {
  const sums = new Map<string, number>();
  for (const f of findings)
    if (f.amount) sums.set(f.amount.currency, (sums.get(f.amount.currency) ?? 0) + Math.abs(f.amount.amount));
  return [...sums].map(([currency, amount]) => ({ currency, amount }));
}
