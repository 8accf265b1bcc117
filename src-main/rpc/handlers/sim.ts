/** Handlers for shared/rpc/sim.ts: live and deterministic runs, comparison, enumeration, sessions. */
import type { simMethods } from '../../../shared/rpc/sim';
import { preset, STRATEGIES } from '../../../shared/sim';
import { compareStrategies, enumerateInterleavings, resultOf, runScenario } from '../../sim';
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

export const simHandlers: Handlers<keyof typeof simMethods> = {
  'sim.run': (input) => runScenario(input.scenario, input.mode),
  'sim.compare': async (input) => ({ results: (await compareStrategies(input.scenario, input.mode)).map((r) => r.summary) }),
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
