/** The SQLite strategies by name, in the order of the comparison table (typed from STRATEGY_ENGINES). */
import { runsOn, type StrategyName, type StrategyOn } from '../../../shared/sim';
import type { Strategy } from '../program';
import { conditionalUpdate } from './conditional-update';
import { counterGateStrategy } from './counter-gate';
import { deferred } from './deferred';
import { fourLayers } from './four-layers';
import { immediate } from './immediate';
import { lockLease } from './lock-lease';
import { naive } from './naive';
import { optimistic } from './optimistic';

export const STRATEGY_MODULES: Readonly<Record<StrategyOn<'sqlite'>, Strategy>> = {
  naive,
  deferred,
  immediate,
  'conditional-update': conditionalUpdate,
  optimistic,
  'counter-gate': counterGateStrategy,
  'lock-lease': lockLease,
  'four-layers': fourLayers,
};

/** The SQLite program of a strategy; a server-only strategy (row locks, SERIALIZABLE) has none. */
export function sqliteStrategy(name: StrategyName): Strategy {
  if (!runsOn(name, 'sqlite')) throw new Error(`the strategy ${name} does not run on SQLite`);
  return STRATEGY_MODULES[name];
}
