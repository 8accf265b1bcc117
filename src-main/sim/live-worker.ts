/**
 * One live-mode worker thread: its own pool of SQLite connections to the scratch file, its share of the
 * buyers, each buyer an async loop over its strategy's steps with real think time (so buyers in this
 * thread interleave with each other, and with other threads at the database). A held lock or lease is
 * waited for with short jittered sleeps (never blocking the thread's other buyers), up to a limit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { EventDetail, Scenario, StepKind } from '../../shared/sim';
import type { WritableDB } from '../db/types';
import { Actor, Executor, type ConnectionSource } from './executor';
import { mix, mulberry32 } from './prng';
import { openScratch } from './schema';

export interface WorkerInput {
  readonly file: string;
  readonly scenario: Scenario;
  readonly index: number;
  /** Buyer numbers this worker drives and their arrival offsets in ms after the start. */
  readonly buyers: readonly number[];
  readonly arrivals: readonly number[];
  readonly waitLimitMs: number;
}

/** [buyer, attempt, step, t (µs since the start), detail] */
export type WireEvent = [number, number, StepKind, number, EventDetail];

export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly events: WireEvent[] }
  | { readonly type: 'error'; readonly message: string };
export type ParentMessage = { readonly type: 'go'; readonly start: string };

class Pool implements ConnectionSource {
  readonly free: WritableDB[];
  constructor(readonly all: WritableDB[]) {
    this.free = [...all];
  }
  auto(): WritableDB | null {
    return this.free.at(-1) ?? null;
  }
  take(): WritableDB | null {
    return this.free.pop() ?? null;
  }
  give(db: WritableDB): void {
    this.free.push(db);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function main(input: WorkerInput): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('live-worker runs only as a worker thread');
  const { scenario } = input;
  const pool = new Pool(
    Array.from({ length: scenario.connectionsPerWorker }, () =>
      openScratch(input.file, { synchronous: 'normal', busyTimeoutMs: 2 }),
    ),
  );
  const events: WireEvent[] = [];
  let start = 0n;
  const nowUs = () => Number(process.hrtime.bigint() - start) / 1000;
  const executor = new Executor(scenario, pool, { now: () => Date.now() }, (actor, step, detail) => {
    events.push([actor.buyer, actor.attempt, step, Math.round(nowUs() * 1000) / 1000, detail]);
  });
  const jitter = mulberry32(mix(scenario.seed, 7919, input.index));
  const running = new Set<Promise<void>>();
  let ids = 0;

  const drive = async (actor: Actor): Promise<void> => {
    let backoff = 0.5;
    let waitingSince = 0;
    let timer: NodeJS.Timeout | undefined;
    if (scenario.client.timeoutMs > 0) {
      timer = setTimeout(() => {
        if (actor.responded) return;
        actor.clientGone = true;
        events.push([actor.buyer, actor.attempt, 'unknown', nowUs(), { timeoutMs: scenario.client.timeoutMs }]);
        if (actor.attempt <= scenario.client.retries) launch(new Actor(ids++, scenario, actor.buyer, actor.attempt + 1));
      }, scenario.client.timeoutMs);
    }
    try {
      while (!actor.done) {
        const result = executor.perform(actor);
        if (result.kind === 'think') {
          await sleep(result.ms);
        } else if (result.kind === 'blocked') {
          const now = performance.now();
          if (waitingSince === 0) waitingSince = now;
          if (now - waitingSince > input.waitLimitMs) {
            executor.giveUp(actor, result.on);
            waitingSince = 0;
            continue;
          }
          await sleep(backoff * (0.5 + jitter()));
          backoff = Math.min(backoff * 2, 8);
        } else {
          waitingSince = 0;
          backoff = 0.5;
        }
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
  };

  function launch(actor: Actor): void {
    const p = drive(actor).finally(() => running.delete(p));
    running.add(p);
  }

  const go = await new Promise<ParentMessage>((resolve) => {
    port.once('message', (m: ParentMessage) => resolve(m));
    port.postMessage({ type: 'ready' } satisfies WorkerMessage);
  });
  start = BigInt(go.start);
  // Every buyer waits for its own arrival time, measured from the common start.
  const arrivals = input.buyers.map((buyer, k) => ({ buyer, at: input.arrivals[k] ?? 0 })).sort((a, b) => a.at - b.at);
  const begun = new Promise<void>((resolve) => {
    let next = 0;
    const tick = () => {
      const elapsedMs = nowUs() / 1000;
      while (next < arrivals.length && (arrivals[next]?.at ?? 0) <= elapsedMs) {
        launch(new Actor(ids++, scenario, arrivals[next]?.buyer ?? 0, 1));
        next++;
      }
      if (next >= arrivals.length) resolve();
      else setTimeout(tick, Math.max(0, Math.min(5, (arrivals[next]?.at ?? 0) - elapsedMs)));
    };
    setTimeout(tick, Math.max(0, -nowUs() / 1000));
  });
  await begun;
  while (running.size > 0) await Promise.all([...running]);
  for (const db of pool.all) db.close();
  port.postMessage({ type: 'done', events } satisfies WorkerMessage);
}

if (parentPort && (workerData as { liveWorker?: boolean } | null)?.liveWorker === true) {
  main(workerData as WorkerInput).catch((error: unknown) => {
    parentPort?.postMessage({ type: 'error', message: (error as Error).stack ?? String(error) } satisfies WorkerMessage);
  });
}
