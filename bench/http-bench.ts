/**
 * HTTP benchmark: `POST /api/v1/orders` with a distinct Idempotency-Key per request against a large
 * stock (group commit, every order on the disk before its answer, rate limit off), compared in the same run with a bare
 * `node:http` server answering a small JSON under the same load. The load generators run in a child
 * process (bench/http-clients.ts; the fair setup on a 2-core machine: one core serves, one loads).
 *
 * - Closed loop, 64 connections, in interleaved rounds of the shop and the bare server: orders/s and
 *   `http_orders_vs_bare`, and the server process's own CPU per answer (`process.cpuUsage`, all its
 *   threads, over the round): `http_server_us_per_order`, `http_bare_server_us_per_request` and
 *   `http_cpu_vs_bare` (bare / shop), which takes the load generator's share of the two cores out of
 *   the comparison. Ratios are medians of the rounds with their lowest and highest.
 * - The floor, in the same rounds: the shop's CPU per `GET /api/v1/health` (same server and hooks, no body,
 *   no engine: `http_health_server_us_per_request`) and the engine's CPU per claim with no HTTP at the same
 *   concurrency (`http_engine_us_per_claim`). `http_cpu_vs_bare_ceiling` is the bare server's CPU per
 *   request over their sum: the most `http_cpu_vs_bare` could be if reading, validating and answering an
 *   order cost nothing beyond a health check.
 * - The same rounds against a second shop whose writer always pipelines its flush (`durability:
 *   'pipelined'`, engine/writer.ts) against the default ('auto'): `http_pipelined_vs_default` (orders/s,
 *   median of rounds) and `http_pipelined_server_us_per_order`.
 * - The burst a buyer feels: 100 buyers at once on a product of 1,000 keys, fresh connections, 20
 *   times (`http_burst100_p99_ms` over all 2,000 answers; every buyer must get a key), in turns with
 *   the pipelined shop (`http_pipelined_burst100_p99_ms`) and the bare server (`http_bare_burst100_p99_ms`: the
 *   floor of fresh connections on this machine).
 * - A constant 2,000 orders/s for 10 s (`http_open2k_p99_ms`, latency from when each was due).
 *
 * After the runs the database is checked (`http_oversold`, bench/http-shop.ts): no key held twice, every
 * order holding exactly its quantity, stock counters equal to the key rows, one order per 201.
 *
 * `benchHttp()` returns ratios and figures measured in one run; `node --import tsx bench/http-bench.ts`
 * prints them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../src-main/engine/engine';
import type { WriterOptions } from '../src-main/engine/writer';
import { ClientProcess, closedLoad, type ClientTask, type LoadResult } from './http-clients';
import { bareServer, openShop, oversold, seedKeys, type Shop } from './http-shop';
import { median, percentile, spread } from './rounds';

/** Each round's engine-only run takes this share of the shop's keys (the HTTP loads take the rest). */
const ENGINE_ONLY_SHARE = 1 / 20;

export interface HttpBenchOptions {
  readonly keys?: number;
  readonly connections?: number;
  readonly durationSeconds?: number;
  readonly warmupSeconds?: number;
  /** Also measure with autocannon inside this process (default false). */
  readonly sameProcess?: boolean;
  /** Interleaved rounds of the shop and the bare server (default 3, `durationSeconds` each). */
  readonly rounds?: number;
  /** Bursts of 100 buyers (default 20). */
  readonly bursts?: number;
  /** The open-loop arrival rate and how long (default 2,000 orders/s for 10 s). */
  readonly open?: { readonly perSecond: number; readonly seconds: number };
  /** Group-commit settings for the server's engine (default: the engine's own). */
  readonly writer?: WriterOptions;
}

/**
 * The engine alone under the same concurrency (no HTTP): `count` claims (at most `seconds`), their rate and
 * the process's CPU per claim (all threads: the order tickets' and the checkpoints' too).
 */
async function engineOnly(
  engine: Engine,
  productId: string,
  concurrency: number,
  prefix: string,
  count: number,
  seconds: number,
): Promise<{ perSecond: number; cpuUsPerClaim: number }> {
  let started = 0;
  let done = 0;
  const end = Date.now() + seconds * 1000;
  const start = performance.now();
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < count && Date.now() < end) {
        const key = `${prefix}-${++started}`;
        await engine.reserve({ productId, quantity: 1, email: 'bench@example.com', idempotencyKey: key });
        done++;
      }
    }),
  );
  const used = process.cpuUsage(before);
  return { perSecond: done / ((performance.now() - start) / 1000), cpuUsPerClaim: (used.user + used.system) / Math.max(1, done) };
}

/** Answers and the server process's CPU time (all its threads) while they were made. */
async function withCpu(run: () => Promise<LoadResult>): Promise<{ result: LoadResult; cpuUs: number }> {
  const before = process.cpuUsage();
  const result = await run();
  const used = process.cpuUsage(before);
  return { result, cpuUs: used.user + used.system };
}

export async function benchHttp(options: HttpBenchOptions = {}): Promise<Record<string, number>> {
  const keys = options.keys ?? 200_000;
  const connections = options.connections ?? 64;
  const duration = options.durationSeconds ?? 3;
  const rounds = options.rounds ?? 3;
  const warmup = options.warmupSeconds ?? 1;
  const bursts = options.bursts ?? 20;
  const open = options.open ?? { perSecond: 2_000, seconds: 10 };
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-http-bench-'));
  const bare = await bareServer();
  const clients = new ClientProcess();
  const shops: Shop[] = [];
  try {
    const shop = await openShop(join(dir, 'shop'), keys, options.writer);
    shops.push(shop);
    // The same shop, always pipelining its flush: what the other choice of 'auto' gives, in the same run.
    // Of the same size, and measured first every other round (a control run with both shops FULL gave
    // 0.83 when the second one was half the size and always measured second).
    const alt = await openShop(join(dir, 'pipelined'), keys, { ...options.writer, durability: 'pipelined' });
    shops.push(alt);
    const engine = shop.engine;
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
    const closed = (target: Shop | null, prefix: string, seconds: number): Extract<ClientTask, { kind: 'closed' }> => ({
      kind: 'closed',
      url: target?.url ?? bareUrl,
      connections,
      seconds,
      productId: target?.productId ?? 'prd_bare',
      prefix,
    });
    const run = async (target: Shop, task: ClientTask & { prefix: string }): Promise<LoadResult> => {
      const result = await clients.run(task);
      target.runs.push({ prefix: task.prefix, result });
      return result;
    };

    // Warm the servers (JIT, prepared statements, the WAL) before measuring.
    await run(shop, closed(shop, 'warm', warmup));
    await run(alt, closed(alt, 'warm', warmup));
    await clients.run(closed(null, 'warm', warmup));

    // Rounds in turns: the shop, the pipelined shop, then the bare server, each under the same closed-loop load.
    const perRound = {
      rate: [] as number[],
      p99: [] as number[],
      bare: [] as number[],
      vsBare: [] as number[],
      vsAlt: [] as number[],
    };
    const cpu = { order: [] as number[], alt: [] as number[], bare: [] as number[], vsBare: [] as number[] };
    // What no order can cost less than on this server: its answer to a request without a body or the
    // engine (the health check: same process, same hooks), plus the engine's own CPU per claim at the same
    // concurrency. Their sum against the bare server is the highest http_cpu_vs_bare this design can reach.
    const floor = { health: [] as number[], engine: [] as number[], engineRate: [] as number[], ceiling: [] as number[] };
    let errors = 0;
    const before = { ...engine.writer.stats };
    for (let r = 0; r < rounds; r++) {
      const measure = (target: Shop) => withCpu(() => run(target, closed(target, `round-${r}`, duration)));
      const altFirst = r % 2 === 1 ? await measure(alt) : null;
      const measured = await measure(shop);
      const measuredAlt = altFirst ?? (await measure(alt));
      const plain = await withCpu(() => clients.run(closed(null, `bare-${r}`, duration)));
      const usPerOrder = measured.cpuUs / Math.max(1, measured.result.answered);
      const usPerRequest = plain.cpuUs / Math.max(1, plain.result.answered);
      perRound.rate.push(measured.result.perSecond);
      perRound.p99.push(measured.result.p99);
      perRound.bare.push(plain.result.perSecond);
      perRound.vsBare.push(measured.result.perSecond / plain.result.perSecond);
      perRound.vsAlt.push(measuredAlt.result.perSecond / measured.result.perSecond);
      cpu.order.push(usPerOrder);
      cpu.alt.push(measuredAlt.cpuUs / Math.max(1, measuredAlt.result.answered));
      cpu.bare.push(usPerRequest);
      cpu.vsBare.push(usPerRequest / usPerOrder);
      errors += measured.result.errors + measured.result.non2xx + measuredAlt.result.errors + measuredAlt.result.non2xx;
      const health = await withCpu(() => clients.run({ ...closed(shop, `health-${r}`, duration), health: true }));
      errors += health.result.errors + health.result.non2xx;
      await engine.writer.idle();
      const alone = await engineOnly(
        engine,
        shop.productId,
        connections,
        `engine-${r}`,
        Math.floor(keys * ENGINE_ONLY_SHARE),
        duration,
      );
      const healthUs = health.cpuUs / Math.max(1, health.result.answered);
      floor.health.push(healthUs);
      floor.engine.push(alone.cpuUsPerClaim);
      floor.engineRate.push(alone.perSecond);
      floor.ceiling.push(usPerRequest / (healthUs + alone.cpuUsPerClaim));
    }
    const batchAvg = (engine.writer.stats.writes - before.writes) / Math.max(1, engine.writer.stats.batches - before.batches);
    const results: Record<string, number> = {
      http_orders_per_s: Math.round(median(perRound.rate)),
      http_orders_p99_ms: median(perRound.p99),
      http_bare_per_s: Math.round(median(perRound.bare)),
      ...spread('http_orders_vs_bare', perRound.vsBare),
      http_server_us_per_order: Number(median(cpu.order).toFixed(1)),
      http_pipelined_server_us_per_order: Number(median(cpu.alt).toFixed(1)),
      http_bare_server_us_per_request: Number(median(cpu.bare).toFixed(1)),
      ...spread('http_cpu_vs_bare', cpu.vsBare),
      http_health_server_us_per_request: Number(median(floor.health).toFixed(1)),
      http_engine_us_per_claim: Number(median(floor.engine).toFixed(1)),
      ...spread('http_cpu_vs_bare_ceiling', floor.ceiling),
      ...spread('http_pipelined_vs_default', perRound.vsAlt),
      http_orders_errors: errors,
    };

    // The burst a buyer feels: 100 buyers at once on a product of 1,000 keys, fresh connections; in
    // turns with the pipelined shop and the bare server (the floor: the client's connects and this machine).
    const latencies = { shop: [] as number[], pipelined: [] as number[], bare: [] as number[] };
    let burstFailed = 0;
    for (let b = 0; b < bursts; b++) {
      const pair = [
        ['shop', shop],
        ['pipelined', alt],
      ] as const;
      for (const [name, target] of b % 2 === 0 ? pair : [pair[1], pair[0]]) {
        const product = await target.engine.createProduct({ name: `Burst ${b}`, price: { amount: 100, currency: 'CNY' } });
        seedKeys(target.engine.db, target.engine.vault, product.id, 1_000);
        await target.engine.writer.idle();
        const prefix = `burst-${b}`;
        const result = await run(target, { kind: 'burst', url: target.url, buyers: 100, productId: product.id, prefix });
        latencies[name].push(...(result.latenciesMs ?? []));
        const stock = target.engine.getProduct(product.id)?.stock;
        burstFailed += 100 - result.created + (stock?.reserved === result.created ? 0 : 1);
      }
      const plain = await clients.run({
        kind: 'burst',
        url: bareUrl,
        buyers: 100,
        productId: 'prd_bare',
        prefix: `bare-burst-${b}`,
      });
      latencies.bare.push(...(plain.latenciesMs ?? []));
    }
    const p99 = (values: number[]) => Number(percentile(values, 99).toFixed(2));
    results.http_burst100_p99_ms = p99(latencies.shop);
    results.http_pipelined_burst100_p99_ms = p99(latencies.pipelined);
    results.http_bare_burst100_p99_ms = p99(latencies.bare);
    results.http_burst100_failed = burstFailed;

    // A constant arrival rate, whatever the server does: the latency of a shop that is not saturated.
    const steady = await run(shop, { kind: 'open', url: shop.url, ...open, productId: shop.productId, prefix: 'open' });
    results.http_open2k_p99_ms = steady.p99;
    results.http_open2k_per_s = Math.round(steady.perSecond);
    results.http_open2k_errors = steady.errors + steady.non2xx;

    if (options.sameProcess ?? false) {
      const same = await closedLoad(closed(shop, 'same', duration));
      shop.runs.push({ prefix: 'same', result: same });
      const sameBare = await closedLoad(closed(null, 'same', duration));
      results.http_orders_per_s_same_process = Math.round(same.perSecond);
      results.http_orders_vs_bare_same_process = Number((same.perSecond / sameBare.perSecond).toFixed(3));
    }
    const engineRate = median(floor.engineRate);
    results.http_engine_only_per_s = Math.round(engineRate);
    results.http_orders_vs_engine = Number((median(perRound.rate) / engineRate).toFixed(3));
    results.http_batch_avg = Number(batchAvg.toFixed(1));
    results.http_oversold = oversold(shop.engine, shop.runs) + oversold(alt.engine, alt.runs);
    return results;
  } finally {
    clients.close();
    bare.close();
    for (const shop of shops) await shop.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  benchHttp().then(
    (results) => console.log(JSON.stringify(results, null, 2)),
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
