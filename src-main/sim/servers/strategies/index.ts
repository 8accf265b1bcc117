/** The strategies that run on the real servers, by name (typed from STRATEGY_ENGINES: postgres or redis). */
import { runsOn, type SimEngine, type StrategyName, type StrategyOn } from '../../../../shared/sim';
import type { ServerStrategy } from '../program';
import { counterGate } from './counter-gate';
import { forUpdate } from './for-update';
import { fourLayers } from './four-layers';
import { lockLease } from './lock-lease';
import { naive } from './naive';
import { serializable } from './serializable';
import { skipLocked } from './skip-locked';

export const SERVER_STRATEGY_MODULES: Readonly<Record<StrategyOn<'postgres'> | StrategyOn<'redis'>, ServerStrategy>> = {
  naive,
  'for-update': forUpdate,
  'skip-locked': skipLocked,
  serializable,
  'counter-gate': counterGate,
  'lock-lease': lockLease,
  'four-layers': fourLayers,
};

export function serverStrategy(name: StrategyName, engine: Exclude<SimEngine, 'sqlite'>): ServerStrategy {
  if (!runsOn(name, engine)) throw new Error(`the strategy ${name} does not run on ${engine}`);
  return SERVER_STRATEGY_MODULES[name];
}
