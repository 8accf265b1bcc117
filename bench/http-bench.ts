/**
 * HTTP benchmark: `POST /api/v1/orders` with a distinct Idempotency-Key per request against a large
 * stock (synchronous=FULL, group commit, rate limit off), compared in the same run with a bare
 * `node:http` server answering a small JSON under the same load. Load comes from autocannon (64
 * connections), run in a child process (the fair setup on a 2-core machine: one core serves, one
 * loads) and, for comparison, in this same process. After each run the database is checked: no key
 * held twice, every order holding exactly its quantity, one order per 201.
 *
 * `benchHttp()` returns ratios and figures measured in one run; `node --import tsx bench/http-bench.ts`
 * prints them.
 */
import { fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stmt } from '../src-main/db/statements';
import type { WritableDB } from '../src-main/db/types';
import { Engine } from '../src-main/engine/engine';
import type { WriterOptions } from '../src-main/engine/writer';
import { appendLedger } from '../src-main/engine/ledger';
import { countStock, moveStock } from '../src-main/engine/products';
import { startHttpServer } from '../src-main/http/server';
import { fingerprint, keyAad, seal, type VaultKeys } from '../src-main/vault/crypto';

export interface HttpBenchOptions {
  readonly keys?: number;
  readonly connections?: number;
  readonly durationSeconds?: number;
  readonly warmupSeconds?: number;
  /** Also measure with autocannon inside this process (default true). */
  readonly sameProcess?: boolean;
  /** Group-commit settings for the server's engine (default: the engine's own). */
  readonly writer?: WriterOptions;
}

interface LoadSpec {
  readonly url: string;
  readonly connections: number;
  readonly duration: number;
  readonly productId: string;
  readonly prefix: string;
}

interface LoadResult {
  readonly perSecond: number;
  readonly p99: number;
  /** 201 answers received. */
  readonly created: number;
  readonly errors: number;
  readonly non2xx: number;
  /** Requests started (one Idempotency-Key each) and answers received: the difference was cut off by the end of the run. */
  readonly started: number;
  readonly answered: number;
}

const SELF = fileURLToPath(import.meta.url);

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number | string }>;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** Seeds `count` sealed keys straight into the vault (as an import would leave them), in chunks. */
export function seedKeys(db: WritableDB, vault: VaultKeys, productId: string, count: number): void {
  const chunk = 20_000;
  const insert = stmt(
    db,
    `INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at) VALUES ((SELECT no FROM products WHERE id = ?), ?, ?, 'available', ?)`,
  );
  for (let start = 0; start < count; start += chunk) {
    db.transaction(() => {
      const now = Date.now();
      const ids: number[] = [];
      for (let i = start; i < Math.min(count, start + chunk); i++) {
        const code = `BENCH-${String(i).padStart(8, '0')}`;
        const fp = fingerprint(vault.fingerprintKey, code);
        ids.push(Number(insert.run(productId, fp, seal(vault.sealKey, code, keyAad(productId, fp)), now).lastInsertRowid));
      }
      moveStock(db, productId, { available: ids.length });
      appendLedger(db, { kind: 'import', at: now, productId, keyIds: ids, keysTo: 'available', detail: { seeded: ids.length } });
    }).immediate();
  }
}

/** Runs autocannon against `spec`; orders get a distinct Idempotency-Key each. */
async function load(spec: LoadSpec): Promise<LoadResult> {
  let counter = 0;
  const body = JSON.stringify({ productId: spec.productId, quantity: 1, email: 'bench@example.com' });
  const result = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.duration,
    requests: [
      {
        method: 'POST',
        path: '/api/v1/orders',
        setupRequest: (request) => ({
          ...request,
          headers: { 'content-type': 'application/json', 'idempotency-key': `${spec.prefix}-${++counter}` },
          body,
        }),
      },
    ],
  });
  const stats = result.statusCodeStats ?? {};
  return {
    perSecond: result.requests.average,
    p99: result.latency.p99,
    created: Number(stats['201']?.count ?? 0),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    started: counter,
    answered: result.requests.total,
  };
}

/** Runs `load` in a child process (this file, forked) so the server keeps a core to itself. */
function loadInChild(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(SELF, ['--load-child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (message) => resolve(message as LoadResult));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load child exited with ${code}`));
    });
    child.send(spec);
  });
}

function bareServer(): Promise<Server> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const payload = JSON.stringify({ order: { id: 'ord_bare', status: 'reserved' } });
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/**
 * What must be 0 after a run: keys delivered twice, reserved orders not holding exactly their quantity,
 * stock counters that differ from the key rows, and 201 answers without an order (or orders beyond the
 * 201s plus the requests the end of a run cut off before their answer arrived).
 */
function oversold(engine: Engine, productId: string, runs: readonly { prefix: string; result: LoadResult }[]): number {
  const db = engine.db;
  const heldTwice = stmt(
    db,
    `SELECT count(*) FROM (SELECT key_id FROM deliveries WHERE returned_at IS NULL GROUP BY key_id HAVING count(*) > 1)`,
  )
    .pluck()
    .get() as number;
  const wrongQuantity = stmt(
    db,
    `SELECT count(*) FROM orders o WHERE o.status = 'reserved'
       AND (SELECT count(*) FROM keys k WHERE k.order_id = o.id AND k.status = 'reserved') <> o.quantity`,
  )
    .pluck()
    .get() as number;
  const stored = engine.getProduct(productId)?.stock;
  const actual = countStock(db, productId);
  const drift = stored
    ? Math.abs(stored.available - actual.available) +
      Math.abs(stored.reserved - actual.reserved) +
      Math.abs(stored.sold - actual.sold)
    : 1;
  let accounting = 0;
  for (const { prefix, result } of runs) {
    const inDb = stmt(
      db,
      `SELECT count(*) FROM idempotency WHERE scope = 'orders.create' AND status = 201 AND substr(key, 1, ?) = ?`,
    )
      .pluck()
      .get(prefix.length + 1, `${prefix}-`) as number;
    const cutOff = result.started - result.answered;
    if (inDb < result.created) accounting += result.created - inDb;
    if (inDb > result.created + cutOff) accounting += inDb - result.created - cutOff;
  }
  const orders = stmt(db, 'SELECT count(*) FROM orders').pluck().get() as number;
  const recorded = stmt(db, `SELECT count(*) FROM idempotency WHERE scope = 'orders.create' AND status = 201`)
    .pluck()
    .get() as number;
  return heldTwice + wrongQuantity + drift + accounting + Math.abs(orders - recorded);
}

/** The engine alone under the same concurrency (no HTTP): the ceiling the endpoint can approach. */
async function engineOnly(engine: Engine, productId: string, concurrency: number, seconds: number): Promise<number> {
  let done = 0;
  const end = Date.now() + seconds * 1000;
  const start = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      for (let i = 0; Date.now() < end; i++) {
        await engine.reserve({ productId, quantity: 1, email: 'bench@example.com', idempotencyKey: `engine-${worker}-${i}` });
        done++;
      }
    }),
  );
  return done / ((Date.now() - start) / 1000);
}

export async function benchHttp(options: HttpBenchOptions = {}): Promise<Record<string, number>> {
  const keys = options.keys ?? 200_000;
  const connections = options.connections ?? 64;
  const duration = options.durationSeconds ?? 5;
  const warmup = options.warmupSeconds ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-http-bench-'));
  const engine = Engine.open({ dataDir: dir, ...(options.writer ? { writer: options.writer } : {}) });
  const bare = await bareServer();
  try {
    const product = await engine.createProduct({ name: 'Bench', price: { amount: 100, currency: 'CNY' } });
    seedKeys(engine.db, engine.vault, product.id, keys);
    const server = await startHttpServer(engine, {
      host: '127.0.0.1',
      port: 0,
      adminToken: 'bench',
      webhookSecret: 'bench',
      rateLimitPerMinute: 0,
    });
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
    const spec = (url: string, prefix: string, seconds: number): LoadSpec => ({
      url,
      connections,
      duration: seconds,
      productId: product.id,
      prefix,
    });
    const runs: { prefix: string; result: LoadResult }[] = [];
    const measure = async (url: string, prefix: string, seconds: number, inChild: boolean): Promise<LoadResult> => {
      const result = await (inChild ? loadInChild : load)(spec(url, prefix, seconds));
      if (url === server.url) runs.push({ prefix, result });
      return result;
    };
    try {
      // Warm both servers (JIT, prepared statements, the WAL) before measuring.
      await measure(server.url, 'warm', warmup, true);
      await measure(bareUrl, 'warm', warmup, true);

      const before = { ...engine.writer.stats };
      const orders = await measure(server.url, 'child', duration, true);
      const batchAvg = (engine.writer.stats.writes - before.writes) / Math.max(1, engine.writer.stats.batches - before.batches);
      const bareRun = await measure(bareUrl, 'child', duration, true);
      const results: Record<string, number> = {
        http_orders_per_s: Math.round(orders.perSecond),
        http_orders_p99_ms: orders.p99,
        http_bare_per_s: Math.round(bareRun.perSecond),
        http_orders_vs_bare: Number((orders.perSecond / bareRun.perSecond).toFixed(3)),
        http_orders_errors: orders.errors + orders.non2xx,
      };
      if (options.sameProcess ?? true) {
        const same = await measure(server.url, 'same', duration, false);
        const sameBare = await measure(bareUrl, 'same', duration, false);
        results.http_orders_per_s_same_process = Math.round(same.perSecond);
        results.http_orders_p99_ms_same_process = same.p99;
        results.http_bare_per_s_same_process = Math.round(sameBare.perSecond);
        results.http_orders_vs_bare_same_process = Number((same.perSecond / sameBare.perSecond).toFixed(3));
      }
      await engine.writer.idle();
      const engineRate = await engineOnly(engine, product.id, connections, duration);
      results.http_engine_only_per_s = Math.round(engineRate);
      results.http_orders_vs_engine = Number((orders.perSecond / engineRate).toFixed(3));
      results.http_batch_avg = Number(batchAvg.toFixed(1));
      results.http_oversold = oversold(engine, product.id, runs);
      return results;
    } finally {
      await server.close();
    }
  } finally {
    bare.close();
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Child mode: run one load and report it to the parent.
if (process.argv.includes('--load-child')) {
  process.once('message', (spec) => {
    load(spec as LoadSpec).then(
      (result) => process.send?.(result, () => process.exit(0)),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
} else if (process.argv[1] === SELF) {
  benchHttp().then(
    (results) => console.log(JSON.stringify(results, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
