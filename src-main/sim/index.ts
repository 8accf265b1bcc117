/**
 * The simulator's entry points: run a scenario (live or deterministic) on its engine, compare
 * strategies across engines, sessions. SQLite runs here and in live.ts / deterministic.ts; PostgreSQL
 * and Redis run in servers/, loaded on first use so that the app and every SQLite run load neither
 * the `pg` nor the `redis` package.
 */
import {
  ALL_STRATEGIES,
  deterministicOn,
  ENGINES,
  runsOn,
  type RunResult,
  type Scenario,
  type SimEngine,
  type SimMode,
} from '../../shared/sim';
import { runDeterministic } from './deterministic';
import { runLive, type LiveOptions } from './live';
import { SimConfigError, type ServerUrls } from './servers/config';
import { resultOf } from './summary';

export { enumerateInterleavings, Session, runDeterministic } from './deterministic';
export { check, countPurchases } from './checker';
export { runLive } from './live';
export { historyJson, resultOf, summarize } from './summary';
export { availableEngines, SimConfigError, SimServerError, urlsFromEnv, type ServerUrls } from './servers/config';

export interface RunOptions extends LiveOptions {
  /** The PostgreSQL and Redis the `postgres` and `redis` engines run on. */
  readonly servers?: ServerUrls;
  /** The most connections a run on the servers opens (default 40). */
  readonly maxConnections?: number;
}

export async function runScenario(scenario: Scenario, mode: SimMode, options: RunOptions = {}): Promise<RunResult> {
  if (!deterministicOn(scenario.engine) && mode !== 'live')
    throw new SimConfigError(`the ${scenario.engine} engine runs live only: the deterministic scheduler steps SQLite`);
  if (scenario.engine !== 'sqlite') {
    const { runOnServers } = await import('./servers/runner');
    return resultOf(await runOnServers(scenario, options));
  }
  const history = mode === 'live' ? await runLive(scenario, options) : runDeterministic(scenario);
  return resultOf(history);
}

export interface CompareOptions extends RunOptions {
  /** The engines to compare on (default: the scenario's). */
  readonly engines?: readonly SimEngine[];
}

/**
 * The same scenario under every strategy of every engine asked for, one run after another (the
 * before/after table): engine by engine, each in the table's order of strategies.
 */
export async function compareStrategies(scenario: Scenario, mode: SimMode, options: CompareOptions = {}): Promise<RunResult[]> {
  const asked = new Set(options.engines ?? [scenario.engine]);
  const engines = ENGINES.filter((engine) => asked.has(engine));
  for (const engine of engines)
    if (!deterministicOn(engine) && mode !== 'live')
      throw new SimConfigError(`the ${engine} engine runs live only: compare deterministically on sqlite alone`);
  const out: RunResult[] = [];
  for (const engine of engines)
    for (const strategy of ALL_STRATEGIES)
      if (runsOn(strategy, engine)) out.push(await runScenario({ ...scenario, engine, strategy }, mode, options));
  return out;
}
