/**
 * Live runs on the real servers (engine `postgres`, or `redis` beside PostgreSQL). The scratch schema
 * and keys are made for the run and dropped after it, whatever happens. Buyers run as async loops in
 * this thread: each holds connections of its own (a PostgreSQL session, a Redis client) for its whole
 * purchase, so the concurrency is the servers' own, and no worker threads are needed as on SQLite,
 * whose driver blocks. At most workers x connectionsPerWorker connections are open (and never more
 * than `maxConnections`: PostgreSQL allows 100 by default); a buyer arriving when all are taken waits
 * for one, as on SQLite. The history is recorded in the same shape as SQLite's, with times in µs.
 */
import type { History, HistoryEvent, Scenario, SimEngine, StepKind, EventDetail } from '../../../shared/sim';
import { arrivalTimes, type LiveOptions } from '../live';
import { mix, mulberry32 } from '../prng';
import { checkUrl, missingFor, SimConfigError, type ServerUrls } from './config';
import { drive, ServerActor, type DriveDeps } from './executor';
import type { Conns } from './program';
import { createScratch, endConns } from './scratch';
import { serverStrategy } from './strategies';

export interface ServerRunOptions extends LiveOptions {
  readonly servers?: ServerUrls;
  /** The most connections (per server) a run opens (default 40). */
  readonly maxConnections?: number;
}

export const DEFAULT_MAX_CONNECTIONS = 40;

/** Buyers waiting for a free connection, first come first served, each for at most the wait limit. */
class ConnPool {
  private readonly free: Conns[];
  private readonly waiters: ((conns: Conns | null) => void)[] = [];

  constructor(readonly all: Conns[]) {
    this.free = [...all];
  }

  take(limitMs: number): Promise<{ conns: Conns; waited: boolean } | null> {
    const ready = this.free.pop();
    if (ready) return Promise.resolve({ conns: ready, waited: false });
    return new Promise((resolve) => {
      const waiter = (conns: Conns | null) => {
        clearTimeout(timer);
        resolve(conns === null ? null : { conns, waited: true });
      };
      const timer = setTimeout(() => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        resolve(null);
      }, limitMs);
      this.waiters.push(waiter);
    });
  }

  give(conns: Conns, healthy: boolean): void {
    // A connection that failed its ROLLBACK is not handed on; the pool is one smaller.
    if (!healthy) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter(conns);
    else this.free.push(conns);
  }

  /** Wakes every waiter empty-handed (the run is over). */
  drain(): void {
    for (const waiter of this.waiters.splice(0)) waiter(null);
  }
}

function serverEngine(engine: SimEngine): Exclude<SimEngine, 'sqlite'> {
  if (engine === 'sqlite') throw new SimConfigError('this runner drives the real servers; SQLite runs in live.ts');
  return engine;
}

export async function runOnServers(scenario: Scenario, options: ServerRunOptions = {}): Promise<History> {
  const engine = serverEngine(scenario.engine);
  const urls = options.servers ?? {};
  const missing = missingFor(engine, urls);
  if (missing !== null) throw new SimConfigError(missing);
  if (urls.postgres !== undefined) checkUrl(urls.postgres, 'postgres');
  if (engine === 'redis' && urls.redis !== undefined) checkUrl(urls.redis, 'redis');
  const strategy = serverStrategy(scenario.strategy, engine);
  const waitLimitMs = options.waitLimitMs ?? 10_000;
  const timeLimitMs = options.timeLimitMs ?? 120_000;
  const size = Math.max(
    1,
    Math.min(
      scenario.buyers,
      scenario.workers * scenario.connectionsPerWorker,
      options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    ),
  );

  const scratch = await createScratch(scenario, urls, { lockTimeoutMs: waitLimitMs, statementTimeoutMs: waitLimitMs + 5_000 });
  const opened: Conns[] = [];
  let aborted = false;
  let pool: ConnPool | null = null;
  const running = new Set<Promise<void>>();
  try {
    const results = await Promise.allSettled(Array.from({ length: size }, () => scratch.connect()));
    for (const r of results) if (r.status === 'fulfilled') opened.push(r.value);
    const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (refused) throw refused.reason;
    const connPool = new ConnPool(opened);
    pool = connPool;

    const events: { e: Omit<HistoryEvent, 'i'>; seq: number }[] = [];
    // Everyone starts 20 ms from now, on the process's monotonic clock.
    const start = process.hrtime.bigint() + 20_000_000n;
    const nowUs = () => Math.max(0, Number(process.hrtime.bigint() - start) / 1000);
    const record = (actor: ServerActor, step: StepKind, detail: EventDetail, atUs?: number) => {
      const t = Math.round((atUs ?? nowUs()) * 1000) / 1000;
      events.push({ e: { buyer: actor.ctx.buyer, attempt: actor.ctx.attempt, step, t, detail }, seq: events.length });
    };
    const deps: DriveDeps = {
      scenario,
      env: { now: () => Date.now() },
      record,
      nowUs,
      take: () => connPool.take(waitLimitMs),
      give: (conns, healthy) => connPool.give(conns, healthy),
      waitLimitMs,
      jitter: mulberry32(mix(scenario.seed, 7919)),
      aborted: () => aborted,
    };

    const launch = (actor: ServerActor): void => {
      let timer: NodeJS.Timeout | undefined;
      const { timeoutMs, retries } = scenario.client;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          if (actor.responded || aborted) return;
          actor.clientGone = true;
          record(actor, 'unknown', { timeoutMs });
          if (actor.ctx.attempt <= retries) launch(new ServerActor(scenario, strategy, actor.ctx.buyer, actor.ctx.attempt + 1));
        }, timeoutMs);
      }
      const p = drive(actor, deps)
        .catch(() => undefined)
        .finally(() => {
          clearTimeout(timer);
          running.delete(p);
        });
      running.add(p);
    };

    const arrivals = arrivalTimes(scenario);
    const arrived = new Promise<void>((resolve) => {
      let left = scenario.buyers;
      const startMs = Number(start - process.hrtime.bigint()) / 1e6;
      arrivals.forEach((at, buyer) => {
        setTimeout(
          () => {
            if (!aborted) launch(new ServerActor(scenario, strategy, buyer, 1));
            if (--left === 0) resolve();
          },
          Math.max(0, startMs + at),
        );
      });
      if (scenario.buyers === 0) resolve();
    });

    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the live run took too long')), timeLimitMs);
    });
    try {
      await Promise.race([
        (async () => {
          await arrived;
          // Retries may launch while others finish: wait until nobody is left (bounded by the time limit).
          while (running.size > 0) await Promise.all([...running]);
        })(),
        limit,
      ]);
    } finally {
      clearTimeout(timer);
    }

    events.sort((a, b) => a.e.t - b.e.t || a.seq - b.seq);
    const history: HistoryEvent[] = events.map(({ e }, i) => ({ i, ...e }));
    const final = await scratch.final();
    return { version: 1, mode: 'live', timeUnit: 'us', scenario, initialStock: scenario.keys, events: history, final };
  } finally {
    aborted = true;
    pool?.drain();
    await Promise.all(opened.map((conns) => endConns(conns)));
    // Buyers still running (a run cut off by its time limit) end on their closed connections.
    await Promise.race([Promise.allSettled([...running]), new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await scratch.drop();
  }
}
