/**
 * Live mode: the buyers run truly concurrently. The scratch database is created here; `workers` worker
 * threads each open their own pool of connections to it (WAL, a 2 ms busy timeout, then async retries),
 * report ready, and start together on one signal; each drives its share of the buyers with real think
 * times. Their histories (process.hrtime, µs since the common start) are merged by time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../lib/module-worker';
import type { History, HistoryEvent, Scenario } from '../../shared/sim';
import type { WireEvent, WorkerInput, WorkerMessage } from './live-worker';
import { mix, mulberry32 } from './prng';
import { createScratch, openScratch, readFinalState } from './schema';

export interface LiveOptions {
  /** Give up the whole run after this long (default 120 s). */
  readonly timeLimitMs?: number;
  /** A buyer waiting longer than this for a lock, a lease or a connection fails as `busy` (default 10 s). */
  readonly waitLimitMs?: number;
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './live-worker.ts' : './live-worker.js', import.meta.url);

function startWorker(input: WorkerInput & { liveWorker: true }): Worker {
  return startModuleWorker(WORKER_URL, input);
}

/** When each buyer presses "buy", in ms after the start. */
export function arrivalTimes(scenario: Scenario): number[] {
  const rng = mulberry32(mix(scenario.seed, 104729));
  const { kind, windowMs } = scenario.arrival;
  return Array.from({ length: scenario.buyers }, (_, b) =>
    kind === 'burst' ? rng() * windowMs : (b * windowMs) / Math.max(1, scenario.buyers),
  );
}

export async function runLive(scenario: Scenario, options: LiveOptions = {}): Promise<History> {
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-live-'));
  const file = join(dir, 'scratch.db');
  const workers: Worker[] = [];
  try {
    createScratch(file, scenario.keys, { synchronous: 'normal' });
    const arrivals = arrivalTimes(scenario);
    const count = Math.min(scenario.workers, scenario.buyers);
    const shares = Array.from({ length: count }, () => ({ buyers: [] as number[], arrivals: [] as number[] }));
    for (let b = 0; b < scenario.buyers; b++) {
      const share = shares[b % count];
      share?.buyers.push(b);
      share?.arrivals.push(arrivals[b] ?? 0);
    }
    const results: Promise<WireEvent[]>[] = [];
    const ready: Promise<void>[] = [];
    for (let index = 0; index < count; index++) {
      const share = shares[index] ?? { buyers: [], arrivals: [] };
      const worker = startWorker({
        liveWorker: true,
        file,
        scenario,
        index,
        ...share,
        waitLimitMs: options.waitLimitMs ?? 10_000,
      });
      workers.push(worker);
      let onReady: () => void = () => undefined;
      ready.push(new Promise<void>((resolve) => (onReady = resolve)));
      results.push(
        new Promise<WireEvent[]>((resolve, reject) => {
          worker.on('message', (m: WorkerMessage) => {
            if (m.type === 'ready') onReady();
            else if (m.type === 'done') resolve(m.events);
            else reject(new Error(`simulator worker failed: ${m.message}`));
          });
          worker.on('error', reject);
          worker.on('exit', (code) => reject(new Error(`simulator worker exited (${code})`)));
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the live run took too long')), options.timeLimitMs ?? 120_000);
    });
    try {
      await Promise.race([Promise.all(ready), limit, ...results.map((r) => r.then(() => undefined))]);
      await Promise.race([Promise.all(ready), limit]);
      // Everyone starts 20 ms from now, measured on the clock all threads share.
      const start = process.hrtime.bigint() + 20_000_000n;
      for (const worker of workers) worker.postMessage({ type: 'go', start: start.toString() });
      const perWorker = await Promise.race([Promise.all(results), limit]);
      const merged = perWorker.flatMap((events, w) => events.map((e, seq) => ({ e, w, seq })));
      merged.sort((a, b) => a.e[3] - b.e[3] || a.w - b.w || a.seq - b.seq);
      const events: HistoryEvent[] = merged.map(({ e }, i) => ({
        i,
        buyer: e[0],
        attempt: e[1],
        step: e[2],
        t: e[3],
        detail: e[4],
      }));
      const db = openScratch(file);
      let final;
      try {
        final = readFinalState(db);
      } finally {
        db.close();
      }
      return { version: 1, mode: 'live', timeUnit: 'us', scenario, initialStock: scenario.keys, events, final };
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
    rmSync(dir, { recursive: true, force: true });
  }
}
