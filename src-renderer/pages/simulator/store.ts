/**
 * The Simulator page's state: the scenario being edited (with its engine), the mode, the engines the
 * main process offers, the last run (or the deterministic session being stepped), the strategy
 * comparison, and what is busy. Actions take the transport so tests can hand in a fake. Live and full
 * deterministic runs go through `sim.run`; stepping goes through `sim.session.*` (the session lives in
 * the main process; Back re-runs it from the start). PostgreSQL and Redis run live only.
 */
import { create } from 'zustand';
import type { SessionView } from '../../../shared/rpc/sim';
import {
  deterministicOn,
  preset,
  runsOn,
  Scenario,
  strategiesOn,
  type HistoryEvent,
  type SimEngine,
  type StrategyName,
  type PresetId,
  type RunResult,
  type RunSummary,
  type SimMode,
} from '../../../shared/sim';
import type { Transport } from '../../transport/types';

export interface SimulatorState {
  readonly scenario: Scenario;
  readonly presetId: PresetId | null;
  readonly mode: SimMode;
  /** What `sim.engines` answered: SQLite always, PostgreSQL and Redis when their URLs are configured. */
  readonly engines: readonly SimEngine[];
  readonly result: RunResult | null;
  readonly session: SessionView | null;
  readonly comparison: readonly RunSummary[] | null;
  readonly comparisonMode: SimMode | null;
  readonly busy: 'run' | 'step' | 'compare' | null;
  readonly error: unknown;
  applyPreset: (id: PresetId) => void;
  setScenario: (patch: Partial<Scenario>) => void;
  setMode: (mode: SimMode) => void;
  /** Switches the engine, keeping the strategy where it runs there (else that engine's first); real servers run live. */
  setEngine: (engine: SimEngine) => void;
  loadEngines: (transport: Transport) => Promise<void>;
  /** Replaces the scenario with a saved one (a scenario or a history JSON); returns an error message or null. */
  loadScenario: (json: string) => string | null;
  run: (transport: Transport) => Promise<void>;
  step: (transport: Transport, buyer?: number) => Promise<void>;
  back: (transport: Transport) => Promise<void>;
  resetSession: (transport: Transport) => Promise<void>;
  finish: (transport: Transport) => Promise<void>;
  compare: (transport: Transport) => Promise<void>;
  reset: () => void;
}

const INITIAL = {
  scenario: preset('incident'),
  presetId: 'incident' as PresetId | null,
  mode: 'live' as SimMode,
  engines: ['sqlite'] as readonly SimEngine[],
  result: null,
  session: null,
  comparison: null,
  comparisonMode: null,
  busy: null,
  error: null,
};

/** The events on screen: the stepped session's, else the last run's. */
export function shownEvents(state: Pick<SimulatorState, 'session' | 'result'>): readonly HistoryEvent[] {
  return state.session?.events ?? state.result?.history.events ?? [];
}

/** The engine a strategy runs on: `preferred` when it runs there and is offered, else the first offered that it runs on. */
export function engineFor(strategy: StrategyName, preferred: SimEngine, offered: readonly SimEngine[]): SimEngine {
  if (offered.includes(preferred) && runsOn(strategy, preferred)) return preferred;
  return offered.find((engine) => runsOn(strategy, engine)) ?? 'sqlite';
}

export const useSimulator = create<SimulatorState>()((set, get) => {
  /** Runs one async action with the busy flag and error capture. */
  async function busy(kind: 'run' | 'step' | 'compare', fn: () => Promise<void>): Promise<void> {
    if (get().busy) return;
    set({ busy: kind, error: null });
    try {
      await fn();
    } catch (error) {
      set({ error });
    } finally {
      set({ busy: null });
    }
  }

  /** A changed scenario ends the session being stepped (its steps belong to the old one). */
  function dropSession(transport?: Transport): void {
    const session = get().session;
    if (session && transport) void transport.call('sim.session.close', { sessionId: session.sessionId }).catch(() => undefined);
    set({ session: null });
  }

  async function ensureSession(transport: Transport): Promise<SessionView> {
    const current = get().session;
    if (current) return current;
    const view = await transport.call('sim.session.start', { scenario: get().scenario });
    set({ session: view, result: null });
    return view;
  }

  return {
    ...INITIAL,
    applyPreset(id) {
      dropSession();
      const next = preset(id);
      const engine = engineFor(next.strategy, get().scenario.engine, get().engines);
      set({ scenario: { ...next, engine }, presetId: id, result: null, error: null });
      if (!deterministicOn(engine)) set({ mode: 'live' });
    },
    setEngine(engine) {
      dropSession();
      const { scenario } = get();
      const strategy = runsOn(scenario.strategy, engine) ? scenario.strategy : (strategiesOn(engine)[0] ?? 'naive');
      set({ scenario: { ...scenario, engine, strategy }, result: null, error: null });
      if (!deterministicOn(engine)) set({ mode: 'live' });
    },
    async loadEngines(transport) {
      try {
        const { engines } = await transport.call('sim.engines', {});
        set({ engines });
      } catch {
        // An older main process, or none: SQLite is always there.
        set({ engines: ['sqlite'] });
      }
    },
    setScenario(patch) {
      dropSession();
      set((state) => ({ scenario: { ...state.scenario, ...patch }, presetId: null }));
    },
    setMode(mode) {
      set({ mode });
    },
    loadScenario(json) {
      let raw: unknown;
      try {
        raw = JSON.parse(json);
      } catch (error) {
        return (error as Error).message;
      }
      const candidate = (raw as { scenario?: unknown } | null)?.scenario ?? raw;
      const parsed = Scenario.safeParse(candidate);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return `${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim();
      }
      dropSession();
      set({ scenario: parsed.data, presetId: null, result: null });
      return null;
    },
    run: (transport) =>
      busy('run', async () => {
        dropSession(transport);
        const result = await transport.call('sim.run', { scenario: get().scenario, mode: get().mode });
        set({ result });
      }),
    step: (transport, buyer) =>
      busy('step', async () => {
        const session = await ensureSession(transport);
        if (session.finished) return;
        const view = await transport.call('sim.session.step', {
          sessionId: session.sessionId,
          ...(buyer === undefined ? {} : { buyer }),
        });
        set({ session: view });
        if (view.finished) set({ result: await transport.call('sim.session.result', { sessionId: view.sessionId }) });
      }),
    back: (transport) =>
      busy('step', async () => {
        const session = get().session;
        if (!session) return;
        set({ session: await transport.call('sim.session.back', { sessionId: session.sessionId }), result: null });
      }),
    resetSession: (transport) =>
      busy('step', async () => {
        const session = get().session;
        if (!session) {
          set({ result: null });
          return;
        }
        set({ session: await transport.call('sim.session.reset', { sessionId: session.sessionId }), result: null });
      }),
    finish: (transport) =>
      busy('step', async () => {
        const session = await ensureSession(transport);
        const view = await transport.call('sim.session.finish', { sessionId: session.sessionId });
        set({ session: view, result: await transport.call('sim.session.result', { sessionId: view.sessionId }) });
      }),
    compare: (transport) =>
      busy('compare', async () => {
        const mode = get().mode;
        // Live: every engine offered; deterministic steps SQLite alone.
        const engines = get().engines.filter((engine) => mode === 'live' || deterministicOn(engine));
        const { results } = await transport.call('sim.compare', {
          scenario: get().scenario,
          mode,
          engines: engines.length > 0 ? [...engines] : ['sqlite'],
        });
        set({ comparison: results, comparisonMode: mode });
      }),
    reset() {
      set({ ...INITIAL, scenario: preset('incident') });
    },
  };
});
