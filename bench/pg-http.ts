/**
 * The PostgreSQL benchmark's orders over HTTP (bench/pg-bench.ts), and the audit of the database after them.
 *
 * `pg_http_orders_per_s` (`_p99_ms`, `_errors`): `POST /api/v1/orders` with distinct Idempotency-Keys over
 * two `oncekey serve --database` processes, 32 keep-alive connections each from the HTTP benchmark's
 * load-generator child (bench/http-clients.ts), both loads at once, in rounds. Afterwards the database
 * is audited: no live delivery of a key twice, every reserved order holding exactly its quantity,
 * counters equal to the key rows, per load the orders recorded between its 201s and its 201s plus the
 * requests the end of the load cut off, orders equal to 201 records, and the ledger verified
 * (verifyLedgerPg). `pg_http_oversold` is the sum of what it found (target 0).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IDEMPOTENCY_SCOPE } from '../src-main/engine/order-idempotency';
import { openPool } from '../src-main/pg/connect';
import { verifyLedgerPg } from '../src-main/pg/ledger';
import { PgShop } from '../src-main/pg/shop';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { startServerProcess, waitUntil, type ServerProcess } from '../test/helpers/server-process';
import { ClientProcess, type ClientTask, type LoadResult } from './http-clients';
import { BUYERS } from './pg-claims';
import { seededProduct, settle } from './pg-database';
import { median, spread } from './rounds';

export interface HttpSizes {
  readonly keys: number;
  readonly rounds: number;
  readonly seconds: number;
  readonly warmup: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Serve {
  readonly process: ServerProcess;
  readonly url: string;
}

/** `oncekey serve --database` on a free port; resolves once it prints its `listening on` line. */
async function startServe(dataDir: string, url: string): Promise<Serve> {
  const args = [
    join(ROOT, 'bin', 'oncekey.js'),
    'serve',
    '--data',
    dataDir,
    '--port',
    '0',
    '--rate-limit',
    '0',
    '--admin-token',
    'x',
    '--webhook-secret',
    'y',
  ];
  // The database URL through the environment (`ONCEKEY_DATABASE_URL`, as --database): no password in `ps`.
  const previous = process.env.ONCEKEY_DATABASE_URL;
  process.env.ONCEKEY_DATABASE_URL = url;
  let server: ServerProcess;
  try {
    server = startServerProcess(process.execPath, args, { deathSignal: 'SIGKILL', cwd: ROOT });
  } finally {
    if (previous === undefined) delete process.env.ONCEKEY_DATABASE_URL;
    else process.env.ONCEKEY_DATABASE_URL = previous;
  }
  const listening = (): string | undefined => /listening on (http:\/\/\S+)/.exec(server.output())?.[1];
  try {
    await waitUntil(server, async () => listening() !== undefined, 'oncekey serve --database', 60_000);
  } catch (error) {
    await server.stop('SIGKILL', 5_000);
    throw error;
  }
  return { process: server, url: listening()! };
}

interface HttpRun {
  readonly prefix: string;
  readonly result: LoadResult;
}

/** What must be 0 after the HTTP runs (see the header); `problems` lists what was found. */
async function auditHttp(url: string, runs: readonly HttpRun[]): Promise<{ found: number; problems: string[] }> {
  const pool = openPool(url, 2);
  const problems: string[] = [];
  try {
    const count = async (what: string, sql: string, params: unknown[] = []): Promise<number> => {
      const n = Number((await pool.query<{ n: number }>(sql, params)).rows[0]?.n ?? 0);
      if (n !== 0) problems.push(`${what}: ${n}`);
      return n;
    };
    let found = await count(
      'keys delivered twice',
      `SELECT count(*) AS n FROM (SELECT key_id FROM deliveries WHERE returned_at IS NULL GROUP BY key_id HAVING count(*) > 1) t`,
    );
    found += await count(
      'reserved orders not holding their quantity',
      `SELECT count(*) AS n FROM orders o WHERE o.status = 'reserved'
         AND (SELECT count(*) FROM keys k WHERE k.order_id = o.id AND k.status = 'reserved') <> o.quantity`,
    );
    found += await count(
      'keys held for an order that is not live',
      `SELECT count(*) AS n FROM keys k JOIN orders o ON o.id = k.order_id
         WHERE k.status = 'reserved' AND o.status NOT IN ('reserved', 'needs_review')`,
    );
    found += await count(
      'stock counters off the key rows',
      `SELECT coalesce(sum(abs(p.available - (SELECT count(*) FROM keys k WHERE k.product_no = p.no AND k.status = 'available'))
         + abs(p.reserved - (SELECT count(*) FROM keys k WHERE k.product_no = p.no AND k.status = 'reserved'))
         + abs(p.sold - (SELECT count(*) FROM keys k WHERE k.product_no = p.no AND k.status = 'sold'))), 0) AS n FROM products p`,
    );
    found += await count(
      'orders without a 201 record, or records without an order',
      `SELECT abs((SELECT count(*) FROM orders) - (SELECT count(*) FROM idempotency WHERE scope = $1 AND status = 201)) AS n`,
      [IDEMPOTENCY_SCOPE],
    );
    for (const { prefix, result } of runs) {
      const recorded = Number(
        (
          await pool.query<{ n: number }>(
            `SELECT count(*) AS n FROM idempotency WHERE scope = $1 AND status = 201 AND left(key, $2) = $3`,
            [IDEMPOTENCY_SCOPE, prefix.length + 1, `${prefix}-`],
          )
        ).rows[0]?.n ?? 0,
      );
      const cutOff = result.started - result.answered;
      const off = Math.max(0, result.created - recorded) + Math.max(0, recorded - result.created - cutOff);
      if (off > 0) problems.push(`${prefix}: ${recorded} orders recorded for ${result.created} 201s (${cutOff} cut off)`);
      found += off;
    }
    const ledger = await verifyLedgerPg(pool);
    if (!ledger.ok) {
      problems.push(`ledger: ${ledger.problems.map((p) => p.reason).join('; ')}`);
      found += Math.max(1, ledger.problems.length);
    }
    return { found, problems };
  } finally {
    await pool.end();
  }
}

export async function benchHttp(url: string, dir: string, sizes: HttpSizes): Promise<Record<string, number>> {
  const dataDir = join(dir, 'serve');
  mkdirSync(dataDir, { mode: 0o700 });
  const seed = await PgShop.open({ url, secretStore: new KeyFileStore(join(dataDir, 'vault.key')), poolSize: 2 });
  let productId: string;
  try {
    productId = await seededProduct(seed, sizes.keys);
    await settle(seed.pool);
  } finally {
    await seed.close();
  }
  const servers: Serve[] = [];
  const clients = new ClientProcess();
  try {
    servers.push(...(await Promise.all([startServe(dataDir, url), startServe(dataDir, url)])));
    const runs: HttpRun[] = [];
    const closed = (server: Serve, prefix: string, seconds: number): Extract<ClientTask, { kind: 'closed' }> => ({
      kind: 'closed',
      url: server.url,
      connections: BUYERS / servers.length,
      seconds,
      productId,
      prefix,
    });
    /** One load per server, all at once; their answers per second summed. */
    const both = async (name: string, seconds: number): Promise<LoadResult[]> => {
      const results = await Promise.all(
        servers.map(async (server, s) => {
          const prefix = `${name}-s${s}`;
          const result = await clients.run(closed(server, prefix, seconds));
          runs.push({ prefix, result });
          return result;
        }),
      );
      return results;
    };
    await both('warm', sizes.warmup);
    const rates: number[] = [];
    const p99s: number[] = [];
    let errors = 0;
    for (let r = 0; r < sizes.rounds; r++) {
      const results = await both(`round${r}`, sizes.seconds);
      rates.push(results.reduce((sum, x) => sum + x.perSecond, 0));
      p99s.push(Math.max(...results.map((x) => x.p99)));
      errors += results.reduce((sum, x) => sum + x.errors + x.non2xx, 0);
    }
    clients.close();
    // Stop the servers (in-flight requests finish and commit) before the audit reads the rows.
    await Promise.all(servers.splice(0).map((s) => s.process.stop('SIGTERM', 20_000)));
    const audit = await auditHttp(url, runs);
    if (audit.found > 0) console.error(`postgres bench: the HTTP audit found ${audit.problems.join(', ')}`);
    return {
      ...spread('pg_http_orders_per_s', rates, 0),
      pg_http_orders_p99_ms: median(p99s),
      pg_http_errors: errors,
      pg_http_oversold: audit.found,
    };
  } finally {
    clients.close();
    await Promise.all(servers.map((s) => s.process.stop('SIGKILL', 5_000)));
  }
}
