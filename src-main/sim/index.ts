/** The simulator's entry points: run a scenario (live or deterministic), compare strategies, sessions. */
import { STRATEGIES, type RunResult, type Scenario, type SimMode } from '../../shared/sim';
import { runDeterministic } from './deterministic';
import { runLive, type LiveOptions } from './live';
import { resultOf } from './summary';

export { enumerateInterleavings, Session, runDeterministic } from './deterministic';
export { check, countPurchases } from './checker';
export { runLive } from './live';
export { historyJson, resultOf, summarize } from './summary';

export async function runScenario(scenario: Scenario, mode: SimMode, options: LiveOptions = {}): Promise<RunResult> {
  const history = mode === 'live' ? await runLive(scenario, options) : runDeterministic(scenario);
  return resultOf(history);
}

/** The same scenario under every strategy, one after another (the before/after table). */
export async function compareStrategies(scenario: Scenario, mode: SimMode, options: LiveOptions = {}): Promise<RunResult[]> {
  const out: RunResult[] = [];
  for (const strategy of STRATEGIES) out.push(await runScenario({ ...scenario, strategy }, mode, options));
  return out;
}
