/**
 * The shop as its callers need it, whatever holds its rows: the embedded SQLite file (the default,
 * `Engine`, adapted here) or PostgreSQL (pg/shop.ts, several servers on several hosts). The public HTTP
 * routes, the payment webhook, `serve` and the conformance tests talk to this interface, so the same
 * requests get the same answers from both, and one suite proves both (test/backend-conformance.test.ts).
 *
 * Every method is asynchronous: PostgreSQL answers over the network. On SQLite the reads stay
 * synchronous inside (a prepared statement on the engine's connection) and writes go through the
 * group-commit writer as before: the adapter only wraps them.
 */
import type { Engine } from './engine';
import type { EngineEvents } from './events';
import type { VerifyReport } from './ledger-verify';
import type { PayArgs, PayResult } from './order-payment';
import type { KeyDisposition } from './order-release';
import type { ReserveArgs, ReserveResult } from './order-reserve';
import type { OrderView } from './order-rows';
import type { Product, ProductInput } from './products';
import type { VaultKeys } from '../vault/crypto';
import type { CodeSource, ImportOptions, ImportReport } from '../vault/import';

export type BackendKind = 'sqlite' | 'postgres';

export interface ShopBackend {
  readonly backend: BackendKind;
  readonly vault: VaultKeys;
  readonly events: EngineEvents;
  readonly clock: () => number;
  reserve(args: Omit<ReserveArgs, 'holdSeconds'>): Promise<ReserveResult>;
  pay(args: PayArgs): Promise<PayResult>;
  refund(args: { orderId: string; keys: KeyDisposition; reason: string; actor: string }): Promise<OrderView>;
  releaseOrder(orderId: string, actor: string): Promise<OrderView>;
  sweepExpired(): Promise<number>;
  startSweeper(intervalMs?: number, onError?: (error: unknown) => void): Promise<number>;
  stopSweeper(): void;
  createProduct(input: ProductInput): Promise<Product>;
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
  close(): Promise<void>;
}

/** The SQLite engine as a ShopBackend. */
export function sqliteBackend(engine: Engine): ShopBackend {
  return {
    backend: 'sqlite',
    vault: engine.vault,
    events: engine.events,
    clock: engine.clock,
    reserve: (args) => engine.reserve(args),
    pay: (args) => engine.pay(args),
    refund: (args) => engine.refund(args),
    releaseOrder: (orderId, actor) => engine.releaseOrder(orderId, actor),
    sweepExpired: () => engine.sweepExpired(),
    startSweeper: (intervalMs, onError) => engine.startSweeper(intervalMs, onError),
    stopSweeper: () => engine.stopSweeper(),
    createProduct: (input) => engine.createProduct(input),
    listProducts: async (options) => engine.listProducts(options),
    getProduct: async (id) => engine.getProduct(id),
    getOrder: async (id) => engine.getOrder(id),
    getOrderWithToken: async (id, token) => engine.getOrderWithToken(id, token),
    deliveredCodes: (orderId) => engine.deliveredCodes(orderId),
    importCodes: (productId, source, options) => engine.importCodes(productId, source, options),
    previewImport: (productId, source, options) => engine.previewImport(productId, source, options),
    addCodes: (productId, codes) => addCodesByImport(engine, productId, codes),
    verifyLedger: async () => engine.verifyLedger(),
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
