/**
 * A run summed up: outcome counts, anomalies, latency percentiles, throughput and the SHA-256 of the
 * history's JSON (equal for two deterministic runs of the same seed). Live times are microseconds and
 * come out in milliseconds; deterministic "latency" and "duration" are logical steps and throughput is 0.
 */
import { createHash } from 'node:crypto';
import { percentile, type Anomaly, type History, type RunResult, type RunSummary } from '../../shared/sim';
import { check, countPurchases } from './checker';

export function historyJson(history: History): string {
  return JSON.stringify(history);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Per buyer: from the first invoke to the first answer the client heard (any attempt). */
export function latencies(history: History): number[] {
  const scale = history.timeUnit === 'us' ? 1 / 1000 : 1;
  const start = new Map<number, number>();
  const answered = new Map<number, number>();
  for (const e of history.events) {
    if (e.step === 'invoke' && !start.has(e.buyer)) start.set(e.buyer, e.t);
    if (
      (e.step === 'ok' || e.step === 'fail') &&
      e.detail.late !== true &&
      e.detail.afterResponse !== true &&
      !answered.has(e.buyer)
    ) {
      answered.set(e.buyer, e.t);
    }
  }
  const out: number[] = [];
  for (const [buyer, t] of answered) out.push((t - (start.get(buyer) ?? t)) * scale);
  return out.sort((a, b) => a - b);
}

export function summarize(history: History, anomalies: readonly Anomaly[]): RunSummary {
  const purchases = countPurchases(history);
  const lat = latencies(history);
  const last = history.events.at(-1)?.t ?? 0;
  const durationMs = history.timeUnit === 'us' ? last / 1000 : last;
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    scenario: history.scenario.name,
    strategy: history.scenario.strategy,
    engine: history.scenario.engine,
    mode: history.mode,
    buyers: history.scenario.buyers,
    keys: history.scenario.keys,
    seed: history.scenario.seed,
    successes: purchases.successes.length,
    oversold: Math.max(0, purchases.successes.length - history.initialStock),
    declined: purchases.declined,
    errors: purchases.errors,
    unknown: purchases.unknown,
    anomalies: [...new Set(anomalies.map((a) => a.name))],
    latencyMs: {
      p50: round(percentile(lat, 50)),
      p99: round(percentile(lat, 99)),
      mean: round(lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : 0),
      max: round(lat.at(-1) ?? 0),
    },
    durationMs: round(durationMs),
    throughputPerS: history.timeUnit === 'us' && durationMs > 0 ? round((lat.length / durationMs) * 1000) : 0,
    historySha256: sha256(historyJson(history)),
  };
}

export function resultOf(history: History): RunResult {
  const anomalies = check(history);
  return { summary: summarize(history, anomalies), anomalies, history };
}
