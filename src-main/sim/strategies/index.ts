/** The strategies by name, in the order of the comparison table. */
import type { StrategyName } from '../../../shared/sim';
import type { Strategy } from '../program';
import { conditionalUpdate } from './conditional-update';
import { counterGateStrategy } from './counter-gate';
import { deferred } from './deferred';
import { fourLayers } from './four-layers';
import { immediate } from './immediate';
import { lockLease } from './lock-lease';
import { naive } from './naive';
import { optimistic } from './optimistic';

export const STRATEGY_MODULES: Readonly<Record<StrategyName, Strategy>> = {
  naive,
  deferred,
  immediate,
  'conditional-update': conditionalUpdate,
  optimistic,
  'counter-gate': counterGateStrategy,
  'lock-lease': lockLease,
  'four-layers': fourLayers,
};
