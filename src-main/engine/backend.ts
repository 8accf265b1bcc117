/**
 * The shop as its callers need it, whatever holds its rows: the embedded SQLite file (the default,
 * `Engine`, adapted here) or PostgreSQL (pg/shop.ts, several servers on several hosts). The public HTTP
 * routes, the payment webhook, `serve` and the conformance tests talk to this interface, so the same
 * requests get the same answers from both, and one suite proves both (test/backend-conformance.test.ts).
 *
 * Every method is asynchronous: PostgreSQL answers over the network. On SQLite the reads stay
 * synchronous inside (a prepared statement on the engine's connection) and writes go through the
 * group-commit writer as before: the adapter only wraps them.
 *
 * Reconciliation sits above the backends (reconcile/ reads a shop's rows with the engine's own code), so
 * a backend's `reconcile` is passed in where the backend is built (http/server.ts, app/, cli/): the
 * SQLite file is reconciled in place (reconcile/service.ts), PostgreSQL through a snapshot of its rows
 * (reconcile/postgres.ts). A backend built without one answers `reconcile` with an internal error.
 */
import { join } from 'node:path';
import type { ReconcileReport } from '../../shared/reconcile';
import { sqliteReader, type SqlReader } from '../db/sql';
import { EngineError } from '../lib/errors';
import { DB_FILE, type Engine } from './engine';
import type { EngineEvents } from './events';
import type { VerifyReport } from './ledger-verify';
import type { PayArgs, PayResult } from './order-payment';
import type { KeyDisposition } from './order-release';
import type { ReserveArgs, ReserveResult } from './order-reserve';
import type { OrderView } from './order-rows';
import type { Product, ProductInput } from './products';
import type { PaymentService } from '../payments/service';
import type { VaultKeys } from '../vault/crypto';
import type { CodeSource, ImportOptions, ImportReport } from '../vault/import';

export type BackendKind = 'sqlite' | 'postgres';

/** What a reconciliation of a whole shop takes; the backend adds its clock and its rows. */
export interface ShopReconcileOptions {
  /** Replay the ledger (the costliest detector); default true. */
  readonly ledger?: boolean;
  /** Run it in a worker thread, off the caller's event loop: 'auto' (the default) when the shop is big. */
  readonly worker?: 'auto' | 'always' | 'never';
}

/** Reconciles the shop `S` (the Engine, a PgShop): reconcile/'s function, given to the backend where it is built. */
export type Reconciler<S> = (shop: S, options: ShopReconcileOptions) => Promise<ReconcileReport>;

/** `reconcile` of a backend built without a Reconciler (a test, a command that never reconciles). */
export function noReconciler(): Promise<never> {
  return Promise.reject(new EngineError('internal_error', 'this shop was opened without reconciliation'));
}

export interface ShopBackend {
  readonly backend: BackendKind;
  /** Where the rows live, as the owner may see it: the SQLite file's path, or the database URL without its password. */
  readonly location: string;
  /** Reads that run on either backend (db/sql.ts): the admin app's lists and pages. */
  readonly sql: SqlReader;
  readonly vault: VaultKeys;
  readonly events: EngineEvents;
  readonly clock: () => number;
  /** The payment channels: checkouts, gateway notifications, the status poller (payments/service.ts). */
  readonly payments: PaymentService;
  reserve(args: Omit<ReserveArgs, 'holdSeconds'>): Promise<ReserveResult>;
  pay(args: PayArgs): Promise<PayResult>;
  refund(args: { orderId: string; keys: KeyDisposition; reason: string; actor: string }): Promise<OrderView>;
  releaseOrder(orderId: string, actor: string): Promise<OrderView>;
  sweepExpired(): Promise<number>;
  startSweeper(intervalMs?: number, onError?: (error: unknown) => void): Promise<number>;
  stopSweeper(): void;
  createProduct(input: ProductInput): Promise<Product>;
  updateProduct(id: string, input: ProductInput): Promise<Product>;
  listProducts(options?: { onSaleOnly?: boolean }): Promise<Product[]>;
  getProduct(id: string): Promise<Product | null>;
  getOrder(id: string): Promise<OrderView | null>;
  getOrderWithToken(id: string, accessToken: string): Promise<OrderView | null>;
  deliveredCodes(orderId: string): Promise<string[]>;
  /** Imports codes into a product (vault/import.ts, the same pipeline on both): every accepted code, or none. */
  importCodes(productId: string, source: CodeSource, options?: Omit<ImportOptions, 'dryRun'>): Promise<ImportReport>;
  /** What importing would do (counts, duplicates, encoding, column); stores nothing. */
  previewImport(productId: string, source: CodeSource, options?: Omit<ImportOptions, 'dryRun'>): Promise<ImportReport>;
  /** Adds codes (one per entry) to a product's stock; codes it already holds are counted as duplicates. */
  addCodes(productId: string, codes: readonly string[]): Promise<{ added: number; duplicates: number }>;
  verifyLedger(): Promise<VerifyReport>;
  /** Every disagreement between orders, keys, payments, statements and the ledger (reconcile/run.ts); writes nothing. */
  reconcile(options?: ShopReconcileOptions): Promise<ReconcileReport>;
  close(): Promise<void>;
}

/** The SQLite engine as a ShopBackend; `reconcile` is reconcile/service.ts's runReconcile where the backend is built. */
export function sqliteBackend(engine: Engine, reconcile?: Reconciler<Engine>): ShopBackend {
  return {
    backend: 'sqlite',
    location: join(engine.dataDir, DB_FILE),
    sql: sqliteReader(engine.db),
    vault: engine.vault,
    events: engine.events,
    clock: engine.clock,
    payments: engine.payments,
    reserve: (args) => engine.reserve(args),
    pay: (args) => engine.pay(args),
    refund: (args) => engine.refund(args),
    releaseOrder: (orderId, actor) => engine.releaseOrder(orderId, actor),
    sweepExpired: () => engine.sweepExpired(),
    startSweeper: (intervalMs, onError) => engine.startSweeper(intervalMs, onError),
    stopSweeper: () => engine.stopSweeper(),
    createProduct: (input) => engine.createProduct(input),
    updateProduct: (id, input) => engine.updateProduct(id, input),
    listProducts: async (options) => engine.listProducts(options),
    getProduct: async (id) => engine.getProduct(id),
    getOrder: async (id) => engine.getOrder(id),
    getOrderWithToken: async (id, token) => engine.getOrderWithToken(id, token),
    deliveredCodes: (orderId) => engine.deliveredCodes(orderId),
    importCodes: (productId, source, options) => engine.importCodes(productId, source, options),
    previewImport: (productId, source, options) => engine.previewImport(productId, source, options),
    addCodes: (productId, codes) => addCodesByImport(engine, productId, codes),
    verifyLedger: async () => engine.verifyLedger(),
    reconcile: (options = {}) => (reconcile ? reconcile(engine, options) : noReconciler()),
    close: () => engine.close(),
  };
}

/** `addCodes` on either backend: the codes as a pasted text, one per line, through the import. */
export async function addCodesByImport(
  shop: Pick<ShopBackend, 'importCodes'>,
  productId: string,
  codes: readonly string[],
): Promise<{ added: number; duplicates: number }> {
  const report = await shop.importCodes(productId, { kind: 'text', text: codes.join('\n'), format: 'txt' });
  return { added: report.imported, duplicates: report.duplicatesInBatch + report.duplicatesInVault };
}
