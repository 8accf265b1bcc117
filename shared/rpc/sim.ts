/**
 * The Simulator page's methods. Live runs execute in the main process (worker threads, a scratch
 * database each; on PostgreSQL and Redis, a scratch schema and key prefix each); deterministic sessions
 * live in the main process too, one step per call, so the page can step, go back, reset and choose who
 * moves next. None of them touches the shop's data. Which engines there are comes from `sim.engines`:
 * the servers' URLs stay in the main process.
 */
import { z } from 'zod';
import { EnumerationResult, HistoryEvent, RunResult, RunSummary, Scenario, SimEngine, SimMode, STRATEGIES } from '../sim';
import { method } from './method';

export const SessionId = z.string().regex(/^sim_[0-9a-z]{1,32}$/);

export const SessionView = z.object({
  sessionId: SessionId,
  steps: z.int().min(0),
  finished: z.boolean(),
  events: z.array(HistoryEvent),
  /** Buyers who can move now. */
  runnable: z.array(z.int().min(0)),
});
export type SessionView = z.infer<typeof SessionView>;

/** Sessions are for stepping by hand: a few buyers, so every step's answer stays small. */
export const MAX_SESSION_BUYERS = 200;

const sessionInput = z.strictObject({ sessionId: SessionId });

export const simMethods = {
  'sim.engines': method({
    summary: 'the engines this app can run on: sqlite always; postgres and redis when their URLs are configured',
    writes: false,
    input: z.strictObject({}),
    output: z.object({ engines: z.array(SimEngine) }),
  }),
  'sim.run': method({
    summary: 'run a scenario (live: worker threads; deterministic: the seed decides the order) and check its history',
    writes: false,
    input: z.strictObject({ scenario: Scenario, mode: SimMode }),
    output: RunResult,
  }),
  'sim.compare': method({
    summary: 'the same scenario under every strategy of every engine asked for (default: the scenario’s): the before/after table',
    writes: false,
    input: z.strictObject({ scenario: Scenario, mode: SimMode, engines: z.array(SimEngine).min(1).max(3).optional() }),
    output: z.object({ results: z.array(RunSummary) }),
  }),
  'sim.enumerate': method({
    summary: 'every interleaving of 2-4 buyers over one key, and how many break, per strategy',
    writes: false,
    input: z.strictObject({ buyers: z.int().min(2).max(4), strategy: z.enum(STRATEGIES).optional() }),
    output: z.object({ results: z.array(EnumerationResult) }),
  }),
  'sim.session.start': method({
    summary: 'start a deterministic session (nobody has moved yet)',
    writes: false,
    input: z.strictObject({
      scenario: Scenario.refine(
        (s) => s.buyers <= MAX_SESSION_BUYERS,
        `at most ${MAX_SESSION_BUYERS} buyers in a session`,
      ).refine((s) => s.engine === 'sqlite', 'sessions step SQLite: the real servers run live only'),
    }),
    output: SessionView,
  }),
  'sim.session.step': method({
    summary: 'one step: of the given buyer, or of the seed’s choice',
    writes: false,
    input: z.strictObject({ sessionId: SessionId, buyer: z.int().min(0).optional() }),
    output: SessionView,
  }),
  'sim.session.back': method({
    summary: 'undo the last step (re-run from the start)',
    writes: false,
    input: sessionInput,
    output: SessionView,
  }),
  'sim.session.reset': method({ summary: 'back to the start', writes: false, input: sessionInput, output: SessionView }),
  'sim.session.finish': method({
    summary: 'run to the end in the seed’s order',
    writes: false,
    input: sessionInput,
    output: SessionView,
  }),
  'sim.session.result': method({
    summary: 'the history so far, checked and summed up',
    writes: false,
    input: sessionInput,
    output: RunResult,
  }),
  'sim.session.close': method({
    summary: 'end a session',
    writes: false,
    input: sessionInput,
    output: z.object({ closed: z.boolean() }),
  }),
} as const;
