/**
 * A shop whose rows live in PostgreSQL: the same purchase engine as the SQLite one (engine/engine.ts),
 * for several servers on several hosts sharing one database. The vault is the same too: its data key is
 * wrapped in the database's `vault_wraps` and unwrapped with the secret store's key (each host's
 * `vault.key`, copied from the first) or the passphrase, so every server seals and opens the same codes.
 *
 * Every write is one transaction on a pooled connection (pg/reserve.ts, pg/order-writes.ts); what the
 * rows may never hold is enforced by the schema (pg/baseline.ts) as on SQLite. A write that meets a
 * serialization failure, a deadlock, a lost connection (PostgreSQL restarted) or a concurrent duplicate
 * of its idempotency key or payment event is retried until its deadline, and then fails with `busy`.
 * Only writes whose retry is harmless are retried after a lost connection: a reservation with an
 * idempotency key (the retry replays it if the first attempt committed) and a payment (its event id).
 */
import { timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import type { ReconcileReport } from '../../shared/reconcile';
import { addCodesByImport, noReconciler, type Reconciler, type ShopReconcileOptions } from '../engine/backend';
import { EngineEvents } from '../engine/events';
import { readSettingsSql } from '../engine/settings';
import { newId, sha256 } from '../engine/ids';
import type { VerifyReport } from '../engine/ledger-verify';
import type { PayArgs, PayResult } from '../engine/order-payment';
import type { KeyDisposition } from '../engine/order-release';
import { checkReserveArgs, finishReserve, prepareReserve, type ReserveArgs, type ReserveResult } from '../engine/order-reserve';
import { toView, type OrderRow, type OrderView } from '../engine/order-rows';
import { checkInput, toProduct, type Product, type ProductInput, type ProductRow } from '../engine/products';
import { TicketPool, type TicketPoolOptions } from '../engine/tickets';
import { EngineError } from '../lib/errors';
import { keyAad, open } from '../vault/crypto';
import type { CodeSource, ImportOptions, ImportReport } from '../vault/import';
import { openWraps, prepareUnlock, type UnlockedVault, type UnlockOptions, type WrapRow } from '../vault/vault';
import type { SqlReader } from '../db/sql';
import { inTransaction, isConnectionError, openPool, redactUrl, sqlState } from './connect';
import { importPg, type PgImportContext } from './import';
import { verifyLedgerPg } from './ledger';
import { migratePostgres } from './migrate';
import { payPg, refundPg, releaseOrderPg, sweepExpiredPg } from './order-writes';
import { reservePgMany } from './reserve';
import { ReserveBatcher } from './reserve-batch';
import { checkPaymentIds } from '../engine/payment-rules';
import { Sweeper } from '../engine/sweeper';
import { PaymentService, type PaymentOptions } from '../payments/service';
import { pgPaymentStore } from './payments';
import { PgEventRelay } from './events-relay';
import { pgReader } from './sql';

export interface PgShopOptions extends UnlockOptions {
  readonly url: string;
  readonly holdSeconds?: number;
  readonly clock?: () => number;
  /** Connections this process opens at most (default 10). */
  readonly poolSize?: number;
  /** How long a write keeps retrying through conflicts and lost connections before `busy` (default 10 s). */
  readonly retryDeadlineMs?: number;
  readonly tickets?: TicketPoolOptions;
  /** How this shop is reconciled (reconcile/postgres.ts, given where the shop is built: reconcile/ sits above pg/). */
  readonly reconcile?: Reconciler<PgShop>;
  /** The payment channels' and their poller's options (payments/service.ts). */
  readonly payments?: PaymentOptions;
}

/** SQLSTATEs after which the whole transaction is simply run again. */
const RETRY_STATES = new Set(['40001', '40P01']);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class PgShop {
  readonly backend = 'postgres' as const;
  readonly events = new EngineEvents();
  /** Reads the admin app shares with SQLite (db/sql.ts). */
  readonly sql: SqlReader;
  private readonly inFlight = new Set<string>();
  private readonly tickets: TicketPool;
  /** Reservations waiting together run in one transaction. */
  readonly reservations: ReserveBatcher;
  private readonly sweeper = new Sweeper(() => this.sweepExpired());
  /** Payment channels: checkouts, gateway notifications and the status poller, rows in pg/payments.ts. */
  readonly payments: PaymentService;
  /** This server's events published to the other servers of the shop (and theirs heard, once `listenToPeers`). */
  private readonly relay: PgEventRelay;

  private constructor(
    /** The database URL without its password. */
    readonly location: string,
    readonly pool: pg.Pool,
    readonly vault: UnlockedVault,
    readonly clock: () => number,
    /**
     * How long a new order holds its codes. The Settings page changes it at once on this server; other
     * servers sharing the database read the saved one at their next start.
     */
    public holdSeconds: number,
    private readonly retryDeadlineMs: number,
    tickets: TicketPoolOptions,
    private readonly reconciler: Reconciler<PgShop> | undefined,
    /**
     * The public address saved in the shop's settings ('' when none), read at open; the Settings page
     * changes it at once on this server (the payment store reads it on every use), other servers at their
     * next start. `serve --public-url` overrides it (payments/service.ts).
     */
    public savedPublicUrl: string,
    payments: PaymentOptions,
    url: string,
  ) {
    this.tickets = new TicketPool(vault.sealKey, tickets);
    this.relay = new PgEventRelay(pool, url, this.events);
    this.sql = pgReader(pool);
    this.payments = new PaymentService(
      {
        store: pgPaymentStore(
          pool,
          (fn, safeToRepeat) => this.write(fn, safeToRepeat),
          vault,
          () => this.savedPublicUrl,
        ),
        clock,
        orderChanged: (order) => this.orderChanged(order),
      },
      payments,
    );
    this.reservations = new ReserveBatcher((requests) =>
      // Run again after a lost connection only if every request can be recognised on retry by its key.
      this.write(
        (client, now) => reservePgMany(client, now, requests),
        requests.every((r) => r.args.idempotencyKey !== undefined),
      ),
    );
  }

  /** Connects, migrates the database (once, whoever is first), opens the vault (creating it on first use). */
  static async open(options: PgShopOptions): Promise<PgShop> {
    const pool = openPool(options.url, options.poolSize);
    try {
      await migratePostgres(pool);
      const vault = await unlockPg(pool, options);
      // The settings saved on the Settings page (engine/settings.ts's rules, as SQLite reads them).
      const saved = await readSettingsSql(pgReader(pool));
      const holdSeconds = options.holdSeconds ?? saved.holdMinutes * 60;
      return new PgShop(
        redactUrl(options.url),
        pool,
        vault,
        options.clock ?? Date.now,
        holdSeconds,
        options.retryDeadlineMs ?? 10_000,
        options.tickets ?? {},
        options.reconcile,
        saved.publicUrl,
        options.payments ?? {},
        options.url,
      );
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
  }

  /**
   * Runs a write transaction, again after a serialization failure, a deadlock, a concurrent duplicate
   * (23505 on the idempotency key or the payment's event id) and, if `safeToRepeat`, a lost connection.
   * The shop's own writes and the admin app's (rpc/handlers) go through here.
   */
  async write<T>(fn: (client: pg.PoolClient, now: number) => Promise<T>, safeToRepeat: boolean): Promise<T> {
    const deadline = Date.now() + this.retryDeadlineMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await inTransaction(this.pool, (client) => fn(client, this.clock()));
      } catch (error) {
        const state = sqlState(error);
        const constraint = (error as { constraint?: unknown }).constraint;
        const conflict =
          (state !== undefined && RETRY_STATES.has(state)) ||
          (state === '23505' && (constraint === 'idempotency_key' || constraint === 'payments_event_id_key'));
        const lost = isConnectionError(error);
        if (!(conflict || (lost && safeToRepeat))) {
          if (lost) throw new EngineError('busy', 'the database connection was lost; whether this write took effect is unknown');
          throw error;
        }
        if (Date.now() >= deadline) throw new EngineError('busy', 'the database stayed busy or unreachable; try again');
        await sleep(Math.min(1000, 5 * 2 ** Math.min(attempt, 8)) * (0.5 + Math.random()));
      }
    }
  }

  async reserve(args: Omit<ReserveArgs, 'holdSeconds'>): Promise<ReserveResult> {
    const full: ReserveArgs = {
      productId: args.productId,
      quantity: args.quantity,
      email: args.email,
      idempotencyKey: args.idempotencyKey,
      holdSeconds: this.holdSeconds,
      purchaseLimit: args.purchaseLimit,
    };
    checkReserveArgs(full);
    const key = args.idempotencyKey;
    if (key !== undefined) {
      if (this.inFlight.has(key)) {
        throw new EngineError('idempotency_key_in_flight', 'a request with this Idempotency-Key is still being processed');
      }
      this.inFlight.add(key);
    }
    try {
      const ticket = prepareReserve(this.vault, full, this.tickets.take());
      const write = await this.reservations.submit({ args: full, ticket });
      const result = finishReserve(this.vault, full, ticket, write);
      if (result.result.ok && !result.replayed) this.orderChanged(result.result.value);
      return result;
    } finally {
      if (key !== undefined) this.inFlight.delete(key);
    }
  }

  async pay(args: PayArgs): Promise<PayResult> {
    checkPaymentIds(args);
    const result = await this.write((client, now) => payPg(client, now, args), true);
    if (result.order && result.effect !== 'duplicate_event') this.orderChanged(result.order);
    return result;
  }

  async refund(args: { orderId: string; keys: KeyDisposition; reason: string; actor: string }): Promise<OrderView> {
    return this.orderChanged(await this.write((client, now) => refundPg(client, now, args), false));
  }

  async releaseOrder(orderId: string, actor: string): Promise<OrderView> {
    return this.orderChanged(await this.write((client, now) => releaseOrderPg(client, now, orderId, actor), false));
  }

  orderChanged(order: OrderView): OrderView {
    this.events.emit({ type: 'order', orderId: order.id, productId: order.productId, status: order.status });
    this.events.emit({ type: 'stock', productId: order.productId });
    return order;
  }

  /** Releases every expired hold; returns how many orders expired. Several servers may sweep at once. */
  async sweepExpired(): Promise<number> {
    let total = 0;
    for (;;) {
      const swept = await this.write((client, now) => sweepExpiredPg(client, now), true);
      total += swept;
      if (swept === 0) return total;
    }
  }

  startSweeper(intervalMs = 5000, onError: (error: unknown) => void = () => undefined): Promise<number> {
    return this.sweeper.start(intervalMs, onError);
  }

  stopSweeper(): void {
    this.sweeper.stop();
  }

  async createProduct(input: ProductInput): Promise<Product> {
    checkInput(input);
    const id = newId('prd');
    const row = await this.write(async (client, now) => {
      const inserted = await client.query<ProductRow>(
        `INSERT INTO products (id, name, price_amount, currency, on_sale, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
        [id, input.name.trim(), input.price.amount, input.price.currency, input.onSale === false ? 0 : 1, now],
      );
      return inserted.rows[0]!;
    }, false);
    this.events.emit({ type: 'stock', productId: id });
    return toProduct(row);
  }

  async updateProduct(id: string, input: ProductInput): Promise<Product> {
    checkInput(input);
    const row = id.includes('\0')
      ? undefined
      : await this.write(async (client) => {
          const updated = await client.query<ProductRow>(
            'UPDATE products SET name = $2, price_amount = $3, currency = $4, on_sale = $5 WHERE id = $1 RETURNING *',
            [id, input.name.trim(), input.price.amount, input.price.currency, input.onSale === false ? 0 : 1],
          );
          return updated.rows[0];
        }, false);
    if (!row) throw new EngineError('product_not_found', `no product ${id}`);
    this.events.emit({ type: 'stock', productId: id });
    return toProduct(row);
  }

  async listProducts(options: { onSaleOnly?: boolean } = {}): Promise<Product[]> {
    const rows = await this.pool.query<ProductRow>(
      `SELECT * FROM products ${options.onSaleOnly ? 'WHERE on_sale = 1' : ''} ORDER BY created_at, id`,
    );
    return rows.rows.map(toProduct);
  }

  async getProduct(id: string): Promise<Product | null> {
    if (id.includes('\0')) return null; // PostgreSQL's text holds no NUL: no product has such an id
    const row = (await this.pool.query<ProductRow>('SELECT * FROM products WHERE id = $1', [id])).rows[0];
    return row ? toProduct(row) : null;
  }

  async getOrder(id: string): Promise<OrderView | null> {
    if (id.includes('\0')) return null; // PostgreSQL's text holds no NUL: no order has such an id
    const row = (await this.pool.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [id])).rows[0];
    return row ? toView(row) : null;
  }

  /** The order, if `accessToken` is its token; an unknown order and a wrong token look the same. */
  async getOrderWithToken(id: string, accessToken: string): Promise<OrderView | null> {
    if (id.includes('\0')) return null; // as getOrder
    const row = (await this.pool.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [id])).rows[0];
    const expected = row?.access_token_hash ?? Buffer.alloc(32);
    const ok = timingSafeEqual(sha256(accessToken), expected);
    return row && ok ? toView(row) : null;
  }

  /** The plaintext codes delivered to an order (a commit here is durable before it is visible). */
  async deliveredCodes(orderId: string): Promise<string[]> {
    const rows = await this.pool.query<{ product_id: string; fingerprint: Buffer; sealed: Buffer }>(
      `SELECT p.id AS product_id, k.fingerprint, k.sealed FROM deliveries d JOIN keys k ON k.id = d.key_id
         JOIN products p ON p.no = k.product_no WHERE d.order_id = $1 AND d.returned_at IS NULL ORDER BY k.id`,
      [orderId],
    );
    return rows.rows.map((r) => open(this.vault.sealKey, r.sealed, keyAad(r.product_id, r.fingerprint)).toString('utf8'));
  }

  /** Imports codes into a product: every accepted code, or none (pg/import.ts, the same pipeline as SQLite's). */
  importCodes(productId: string, source: CodeSource, options: Omit<ImportOptions, 'dryRun'> = {}): Promise<ImportReport> {
    return importPg(this.pool, this.importContext(), productId, source, { ...options, dryRun: false });
  }

  /** What importing would do (counts, duplicates, encoding, column); stores nothing. */
  previewImport(productId: string, source: CodeSource, options: Omit<ImportOptions, 'dryRun'> = {}): Promise<ImportReport> {
    return importPg(this.pool, this.importContext(), productId, source, { ...options, dryRun: true });
  }

  /** Adds codes through the import, as the SQLite backend does: codes the product already holds are counted, not stored twice. */
  addCodes(productId: string, codes: readonly string[]): Promise<{ added: number; duplicates: number }> {
    return addCodesByImport(this, productId, codes);
  }

  private importContext(): PgImportContext {
    return { vault: this.vault, clock: this.clock, emit: (event) => this.events.emit(event) };
  }

  verifyLedger(): Promise<VerifyReport> {
    return verifyLedgerPg(this.pool);
  }

  /** Reconciles a consistent snapshot of the rows (see PgShopOptions.reconcile); writes nothing here. */
  reconcile(options: ShopReconcileOptions = {}): Promise<ReconcileReport> {
    return this.reconciler ? this.reconciler(this, options) : noReconciler();
  }

  /**
   * Hears what the shop's other servers emit (a sale there, stock moving) as this shop's own events, so
   * the admin app served here shows it live (pg/events-relay.ts). `serve` calls it; one-off commands do not.
   */
  listenToPeers(): Promise<void> {
    return this.relay.listen();
  }

  async close(): Promise<void> {
    this.stopSweeper();
    await this.payments.stop();
    await this.tickets.close();
    await this.relay.close();
    await this.pool.end();
  }
}

/** Opens the vault from the database's wraps, creating the data key on first use (the first server wins). */
async function unlockPg(pool: pg.Pool, options: UnlockOptions): Promise<UnlockedVault> {
  const { storeKek, fresh } = prepareUnlock(options);
  const read = async (client: pg.Pool | pg.PoolClient) =>
    (await client.query<WrapRow>('SELECT kind, salt, params, wrapped FROM vault_wraps')).rows;
  let wraps = await read(pool);
  if (wraps.length === 0) {
    const made = fresh();
    wraps = await inTransaction(pool, async (client) => {
      await client.query('LOCK TABLE vault_wraps IN EXCLUSIVE MODE');
      const existing = await read(client);
      if (existing.length > 0) return existing;
      for (const row of made.rows) {
        await client.query('INSERT INTO vault_wraps (kind, salt, params, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)', [
          row.kind,
          row.salt,
          row.params,
          row.wrapped,
          Date.now(),
        ]);
      }
      return made.rows;
    });
  }
  return openWraps(wraps, options, storeKek);
}
