/**
 * Simulator benchmark: `sim_live_10k_buyers_s`, the wall time of one live run of 10,000 buyers (burst
 * over one second, 1,000 keys, think 1-10 ms, conditional-update, 4 worker threads with 8 connections
 * each), from creating the scratch database to the checked result. The run must sell exactly its keys
 * with no anomaly, or the benchmark fails. `node --import tsx bench/sim-bench.ts` prints it.
 */
import { fileURLToPath } from 'node:url';
import { preset, type Scenario } from '../shared/sim';
import { runScenario } from '../src-main/sim';

export interface SimBenchOptions {
  /** 1,000 buyers instead of 10,000 (the bench test). */
  readonly quick?: boolean;
}

export async function benchSimLive(
  options: SimBenchOptions = {},
): Promise<{ sim_live_10k_buyers_s: number; sim_live_oversold: number }> {
  const buyers = options.quick ? 1_000 : 10_000;
  const scenario: Scenario = {
    ...preset('incident'),
    name: 'bench',
    buyers,
    keys: buyers / 10,
    strategy: 'conditional-update',
    arrival: { kind: 'burst', windowMs: 1000 },
    think: { kind: 'uniform', ms: 1, maxMs: 10 },
  };
  const started = performance.now();
  const result = await runScenario(scenario, 'live', { timeLimitMs: 120_000 });
  const seconds = (performance.now() - started) / 1000;
  const { summary } = result;
  if (
    summary.anomalies.length > 0 ||
    summary.successes !== scenario.keys ||
    summary.successes + summary.declined + summary.errors !== buyers
  ) {
    throw new Error(`sim bench: unexpected outcome ${JSON.stringify({ ...summary, historySha256: undefined })}`);
  }
  return { sim_live_10k_buyers_s: Math.round(seconds * 1000) / 1000, sim_live_oversold: summary.oversold };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await benchSimLive({ quick: process.argv.includes('--quick') })));
}
