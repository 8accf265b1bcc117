/**
 * A shop served on 127.0.0.1 on either backend, for tests that must hold on both: the SQLite file
 * (startShop) or a real PostgreSQL (one throw-away server per test file, started on first use, a fresh
 * schema per shop). Both get one product of `keys` codes (`CODE-000000`, ...) and the same HTTP client;
 * `rows` and `count` read the shop's own tables with `?` placeholders on both.
 */
import { join } from 'node:path';
import type { ShopBackend } from '../../src-main/engine/backend';
import type { Engine } from '../../src-main/engine/engine';
import { startHttpServer } from '../../src-main/http/server';
import type { PaymentOptions } from '../../src-main/payments/service';
import { PgShop } from '../../src-main/pg/shop';
import { sqliteContext, type RpcContext } from '../../src-main/rpc/dispatcher';
import { reconcilePgShop } from '../../src-main/reconcile/postgres';
import { KeyFileStore } from '../../src-main/vault/secret-store';
import { ADMIN_TOKEN, shopClient, startShop, WEBHOOK_SECRET, type HttpShop } from './http';
import { startPgShops, type PgShops } from './pg-shop';
import { tempDir } from './shop';

export type BackendName = 'sqlite' | 'postgres';
export const BACKEND_NAMES: readonly BackendName[] = ['sqlite', 'postgres'];

export interface BackendShop extends Pick<HttpShop, 'url' | 'productId' | 'send' | 'order' | 'webhook' | 'admin'> {
  readonly backend: BackendName;
  readonly shop: ShopBackend;
  /** The SQLite engine (null on PostgreSQL). */
  readonly engine: Engine | null;
  /** The shop's folder on this host (its vault key file, secrets). */
  readonly dataDir: string;
  /** The admin app's call context, as the RPC routes build it, for `actor`. */
  rpcContext(actor: string): RpcContext;
  rows<T = Record<string, unknown>>(sql: string, ...args: unknown[]): Promise<T[]>;
  /** The first column of the first row, as a number. */
  count(sql: string, ...args: unknown[]): Promise<number>;
  close(): Promise<void>;
}

export interface BackendShopOptions {
  readonly keys?: number;
  readonly price?: number;
  readonly holdSeconds?: number;
  readonly clock?: () => number;
  /** Payment channels' options (a fast query schedule, say); `poll` starts the status poller as `serve` does. */
  readonly payments?: PaymentOptions;
  readonly poll?: boolean;
}

let postgres: Promise<PgShops> | null = null;

/** Stops the PostgreSQL server this file started (call in afterAll). */
export async function stopBackendServers(): Promise<void> {
  const started = postgres;
  postgres = null;
  if (started) await (await started).stop();
}

const codes = (n: number): string[] => Array.from({ length: n }, (_, i) => `CODE-${String(i).padStart(6, '0')}`);

/** `?` placeholders as PostgreSQL's `$1, $2, ...` (the tests' SQL has no `?` inside strings). */
const numbered = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

export async function startBackendShop(backend: BackendName, options: BackendShopOptions = {}): Promise<BackendShop> {
  if (backend === 'sqlite') {
    const s = await startShop({ keys: 1, ...options });
    const prepared = (sql: string) => s.engine.db.prepare(sql);
    return {
      ...s,
      backend,
      engine: s.engine,
      dataDir: s.dir,
      shop: sqliteContext(s.engine, 'test').shop,
      rpcContext: (actor) => sqliteContext(s.engine, actor),
      rows: async <T>(sql: string, ...args: unknown[]) => prepared(sql).all(...args) as T[],
      count: async (sql, ...args) =>
        Number(
          prepared(sql)
            .pluck()
            .get(...args),
        ),
    };
  }
  postgres ??= startPgShops();
  const servers = await postgres;
  const { dir, cleanup } = tempDir();
  const shop = await PgShop.open({
    url: await servers.freshUrl(),
    secretStore: new KeyFileStore(join(dir, 'vault.key')),
    reconcile: reconcilePgShop,
    ...(options.holdSeconds !== undefined ? { holdSeconds: options.holdSeconds } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.payments ? { payments: options.payments } : {}),
  });
  const product = await shop.createProduct({ name: 'Steam 50', price: { amount: options.price ?? 5000, currency: 'CNY' } });
  await shop.addCodes(product.id, codes(options.keys ?? 1));
  const server = await startHttpServer(shop, {
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN_TOKEN,
    webhookSecret: WEBHOOK_SECRET,
    rateLimitPerMinute: 0,
  });
  shop.payments.listenUrl = server.url;
  if (options.poll) shop.payments.start();
  const rows = async <T>(sql: string, ...args: unknown[]) => (await shop.pool.query(numbered(sql), args)).rows as T[];
  return {
    backend,
    shop,
    engine: null,
    dataDir: dir,
    rpcContext: (actor) => ({ shop, engine: null, dataDir: dir, actor }),
    productId: product.id,
    ...shopClient(server.url, product.id),
    rows,
    count: async (sql, ...args) => Number(Object.values((await rows<Record<string, unknown>>(sql, ...args))[0] ?? {})[0]),
    close: async () => {
      await server.close();
      await shop.close();
      cleanup();
    },
  };
}
