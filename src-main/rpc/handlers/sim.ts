/**
 * Handlers for shared/rpc/sim.ts: live and deterministic runs, comparison, enumeration, sessions. The
 * PostgreSQL and Redis engines run on the servers named by ONCEKEY_SIM_POSTGRES_URL and
 * ONCEKEY_SIM_REDIS_URL (read at each call); without them the page offers SQLite alone.
 */
import type { simMethods } from '../../../shared/rpc/sim';
import { preset, STRATEGIES } from '../../../shared/sim';
import {
  availableEngines,
  compareStrategies,
  enumerateInterleavings,
  resultOf,
  runScenario,
  SimConfigError,
  SimServerError,
  urlsFromEnv,
} from '../../sim';
import type { Session, SessionView } from '../../sim/deterministic';
import { SessionRegistry } from '../../sim/sessions';
import { type Handlers, RpcError } from '../dispatcher';

export const simSessions = new SessionRegistry();

function session(id: string): Session {
  const found = simSessions.get(id);
  if (!found) throw new RpcError('not_found', `no simulator session ${id} (it may have been closed)`);
  return found;
}

function view(sessionId: string, v: SessionView) {
  return { sessionId, steps: v.steps, finished: v.finished, events: [...v.events], runnable: [...v.runnable] };
}

/** A step the scheduler refuses (buyer cannot move, run over) is the caller's mistake, not a crash. */
function attempt<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof RpcError) throw error;
    throw new RpcError('validation_failed', (error as Error).message);
  }
}

/** An engine not configured is the caller's to fix; a server that cannot be reached is `busy`, said in one line. */
async function onServers<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof SimConfigError) throw new RpcError('validation_failed', error.message);
    if (error instanceof SimServerError) throw new RpcError('busy', error.message);
    throw error;
  }
}

export const simHandlers: Handlers<keyof typeof simMethods> = {
  'sim.engines': () => ({ engines: availableEngines(urlsFromEnv()) }),
  'sim.run': (input) => onServers(() => runScenario(input.scenario, input.mode, { servers: urlsFromEnv() })),
  'sim.compare': (input) =>
    onServers(async () => {
      const options = { servers: urlsFromEnv(), ...(input.engines ? { engines: input.engines } : {}) };
      return { results: (await compareStrategies(input.scenario, input.mode, options)).map((r) => r.summary) };
    }),
  'sim.enumerate': (input) => ({
    results: (input.strategy ? [input.strategy] : [...STRATEGIES]).map((strategy) =>
      enumerateInterleavings({ strategy, buyers: input.buyers, base: preset('incident') }),
    ),
  }),
  'sim.session.start': (input) => {
    const { id, session: s } = simSessions.start(input.scenario);
    return view(id, s.view());
  },
  'sim.session.step': (input) =>
    view(
      input.sessionId,
      attempt(() => session(input.sessionId).step(input.buyer)),
    ),
  'sim.session.back': (input) => view(input.sessionId, session(input.sessionId).back()),
  'sim.session.reset': (input) => view(input.sessionId, session(input.sessionId).reset()),
  'sim.session.finish': (input) => view(input.sessionId, session(input.sessionId).finish()),
  'sim.session.result': (input) => resultOf(session(input.sessionId).history()),
  'sim.session.close': (input) => ({ closed: simSessions.close(input.sessionId) }),
};
