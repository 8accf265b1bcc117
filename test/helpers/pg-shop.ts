/**
 * A PostgreSQL shop database for a test: one throw-away server per test file (startPostgres), and a fresh
 * schema per shop inside it, reached through a URL whose `options` set the search_path, the way an owner
 * would point two shops at one server. `dropAll()` removes the schemas; `stop()` ends the server.
 * Started with `{ unixSocket: true }`, `overSocket(url)` is the same shop's URL through the server's Unix
 * socket, for a process in another network namespace (test/helpers/netns.ts). `seedPgShop` makes a shop
 * with one product of N codes and audits its database afterwards, straight from the tables.
 */
import { join } from 'node:path';
import pg from 'pg';
import { decodeKeyIds } from '../../src-main/engine/ledger';
import { PgShop } from '../../src-main/pg/shop';
import { KeyFileStore } from '../../src-main/vault/secret-store';
import { startPostgres, type PostgresServer, type StartPostgresOptions } from './postgres';
import { tempDir } from './shop';

export interface PgShops {
  readonly server: PostgresServer;
  /** A URL to a new, empty schema of its own. */
  freshUrl(): Promise<string>;
  /** `url` (one of freshUrl's) through the Unix socket: same user, database and options, no host. */
  overSocket(url: string): string;
  /** Runs one query as the superuser on the server's database (test bookkeeping, never the shop's own path). */
  admin<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<pg.QueryResult<T>>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startPgShops(options: StartPostgresOptions = {}): Promise<PgShops> {
  const server = await startPostgres(options);
  const admin = new pg.Client({ connectionString: server.url });
  admin.on('error', () => undefined);
  await admin.connect();
  return {
    server,
    async freshUrl() {
      const schema = `shop_${process.pid}_${++counter}`;
      await admin.query(`CREATE SCHEMA ${schema}`);
      const url = new URL(server.url);
      url.searchParams.set('options', `-c search_path=${schema}`);
      return url.toString();
    },
    overSocket(url) {
      if (!server.socketDir) throw new Error('overSocket() needs a server started with { unixSocket: true }');
      const tcp = new URL(url);
      const query = new URLSearchParams(tcp.searchParams);
      query.set('host', server.socketDir);
      query.set('port', tcp.port);
      return `postgres://${tcp.username}:${tcp.password}@${tcp.pathname}?${query.toString()}`;
    },
    admin: (sql, params) => admin.query(sql, params),
    async stop() {
      await admin.end().catch(() => undefined);
      await server.stop();
    },
  };
}

/** What the database itself says after a storm on a shop that never releases or sells (holds last 15 minutes). */
export interface PgAudit {
  readonly orders: number;
  /** Keys named by more than one `reserve` ledger entry: a key handed out twice. */
  readonly reservedTwice: number;
  /** Keys named by `reserve` ledger entries, repeats included (equal to keysHeld when nothing is released). */
  readonly keysReserved: number;
  readonly keysHeld: number;
  /** Reserved orders whose held keys do not match their quantity. */
  readonly wrongQuantity: number;
  readonly stock: { available: number; reserved: number; sold: number };
  /** Available keys counted from the rows (the product's counters must agree). */
  readonly rowStock: number;
  readonly ledger: Awaited<ReturnType<PgShop['verifyLedger']>>;
}

export interface SeededPgShop {
  /** The shop's database URL (TCP; `PgShops.overSocket` for the socket). */
  readonly url: string;
  /** A temporary folder holding the vault's key file: every server's `--data`. */
  readonly dir: string;
  readonly productId: string;
  audit(): Promise<PgAudit>;
  /** Removes the folder (the schema stays until the server stops). */
  cleanup(): void;
}

/** A shop in a fresh schema with one product of `keys` codes (`PG-0`, `PG-1`, …). */
export async function seedPgShop(shops: PgShops, keys: number): Promise<SeededPgShop> {
  const { dir, cleanup } = tempDir();
  const url = await shops.freshUrl();
  const open = () => PgShop.open({ url, secretStore: new KeyFileStore(join(dir, 'vault.key')) });
  const seed = await open();
  const product = await seed.createProduct({ name: 'Last keys', price: { amount: 5000, currency: 'CNY' } });
  for (let from = 0; from < keys; from += 5000) {
    const codes = Array.from({ length: Math.min(5000, keys - from) }, (_, i) => `PG-${from + i}`);
    await seed.addCodes(product.id, codes);
  }
  await seed.close();
  const audit = async (): Promise<PgAudit> => {
    const shop = await open();
    try {
      const q = async (sql: string) => Number((await shop.pool.query<{ n: number }>(sql)).rows[0]?.n);
      const reserves = await shop.pool.query<{ key_ids: string }>(`SELECT key_ids FROM ledger WHERE kind = 'reserve'`);
      const named = reserves.rows.flatMap((row) => decodeKeyIds(row.key_ids));
      return {
        orders: await q('SELECT count(*) AS n FROM orders'),
        reservedTwice: named.length - new Set(named).size,
        keysReserved: named.length,
        keysHeld: await q(`SELECT count(*) AS n FROM keys WHERE status = 'reserved'`),
        wrongQuantity: await q(
          `SELECT count(*) AS n FROM orders o WHERE o.status = 'reserved' AND (SELECT count(*) FROM keys k WHERE k.order_id = o.id AND k.status = 'reserved') <> o.quantity`,
        ),
        stock: (await shop.getProduct(product.id))!.stock,
        rowStock: await q(`SELECT count(*) AS n FROM keys WHERE status = 'available'`),
        ledger: await shop.verifyLedger(),
      };
    } finally {
      await shop.close();
    }
  };
  return { url, dir, productId: product.id, audit, cleanup };
}
