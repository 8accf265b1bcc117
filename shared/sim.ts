/**
 * The concurrency simulator's contract, shared by the engine (src-main/sim), the CLI and the Simulator
 * page: the scenario a trainer sets up, the presets, the history a run records, the anomalies the checker
 * names and the summary of a run. Pure data and zod schemas: no Node, no DOM.
 */
import { z } from 'zod';

/**
 * The engines a scenario can run on. `redis` is Redis beside PostgreSQL: the strategy's gate, cache or
 * lock lives in Redis, the stock and the orders in PostgreSQL (as in the article's architecture).
 */
export const ENGINES = ['sqlite', 'postgres', 'redis'] as const;
export const SimEngine = z.enum(ENGINES);
export type SimEngine = z.infer<typeof SimEngine>;

/** The SQLite strategies, in the order the issue and the comparison table list them. */
export const STRATEGIES = [
  'naive',
  'deferred',
  'immediate',
  'conditional-update',
  'optimistic',
  'counter-gate',
  'lock-lease',
  'four-layers',
] as const;
/** Strategies that need a real server's row locks or isolation levels (SQLite has neither). */
export const SERVER_STRATEGIES = ['for-update', 'skip-locked', 'serializable'] as const;
export const ALL_STRATEGIES = [...STRATEGIES, ...SERVER_STRATEGIES] as const;
export const StrategyName = z.enum(ALL_STRATEGIES);
export type StrategyName = z.infer<typeof StrategyName>;

/**
 * Where each strategy runs: the one declaration the engine's registries are typed from (a registry
 * missing a strategy declared here, or holding one not declared, does not compile) and the page and the
 * CLI offer choices from.
 */
export const STRATEGY_ENGINES = {
  naive: ['sqlite', 'postgres', 'redis'],
  deferred: ['sqlite'],
  immediate: ['sqlite'],
  'conditional-update': ['sqlite'],
  optimistic: ['sqlite'],
  'counter-gate': ['sqlite', 'redis'],
  'lock-lease': ['sqlite', 'redis'],
  'four-layers': ['sqlite', 'redis'],
  'for-update': ['postgres'],
  'skip-locked': ['postgres'],
  serializable: ['postgres'],
} as const satisfies Record<StrategyName, readonly SimEngine[]>;

/** The strategies declared for engine `E`. */
export type StrategyOn<E extends SimEngine> = {
  [K in StrategyName]: E extends (typeof STRATEGY_ENGINES)[K][number] ? K : never;
}[StrategyName];

export function runsOn<E extends SimEngine>(strategy: StrategyName, engine: E): strategy is StrategyOn<E> {
  return (STRATEGY_ENGINES[strategy] as readonly SimEngine[]).includes(engine);
}

export function strategiesOn(engine: SimEngine): StrategyName[] {
  return ALL_STRATEGIES.filter((s) => runsOn(s, engine));
}

/** The deterministic scheduler steps synchronous SQLite connections; real servers run live only. */
export function deterministicOn(engine: SimEngine): boolean {
  return engine === 'sqlite';
}

export const MODES = ['live', 'deterministic'] as const;
export const SimMode = z.enum(MODES);
export type SimMode = z.infer<typeof SimMode>;

/** Think time between a buyer's read and its write (the article's `time.sleep(0.1)`). */
export const ThinkTime = z.strictObject({
  /** `fixed`: always `ms`; `uniform`: between `ms` and `maxMs`; `exponential`: mean `ms`, capped at `maxMs`. */
  kind: z.enum(['fixed', 'uniform', 'exponential']),
  ms: z.number().min(0).max(10_000),
  maxMs: z.number().min(0).max(10_000),
});
export type ThinkTime = z.infer<typeof ThinkTime>;

export const Arrival = z.strictObject({
  /** `burst`: every buyer presses "buy" within `windowMs` (random offsets); `spread`: evenly over `windowMs`. */
  kind: z.enum(['burst', 'spread']),
  windowMs: z.number().min(0).max(120_000),
});
export type Arrival = z.infer<typeof Arrival>;

export const ClientPolicy = z.strictObject({
  /** The buyer's client gives up on an attempt after this long (0: never) and, if retries remain, retries. */
  timeoutMs: z.number().min(0).max(120_000),
  retries: z.int().min(0).max(5),
  /** Send the same idempotency key with every attempt of one purchase. */
  idempotencyKey: z.boolean(),
});
export type ClientPolicy = z.infer<typeof ClientPolicy>;

export const Scenario = z
  .strictObject({
    name: z.string().min(1).max(80),
    buyers: z.int().min(1).max(20_000),
    keys: z.int().min(0).max(100_000),
    strategy: StrategyName,
    /** Where the scenario runs (absent in scenarios saved before there was a choice: SQLite). */
    engine: SimEngine.default('sqlite'),
    arrival: Arrival,
    think: ThinkTime,
    /** Live mode: worker threads, each with its own pool of SQLite connections (on the servers: workers x connections in all). */
    workers: z.int().min(1).max(16),
    connectionsPerWorker: z.int().min(1).max(64),
    seed: z
      .int()
      .min(0)
      .max(2 ** 31 - 1),
    client: ClientPolicy,
    /** Lifetime of the stock cache the stock check reads first (0: no cache). */
    cacheTtlMs: z.number().min(0).max(600_000),
    /** Decrement the stock and create the order in two separate transactions (the article's second lesson). */
    splitTransaction: z.boolean(),
    /** Lifetime of a lock lease (lock-lease, four-layers). */
    leaseTtlMs: z.number().min(1).max(600_000),
  })
  .refine((s) => runsOn(s.strategy, s.engine), {
    path: ['strategy'],
    message: 'this strategy does not run on this engine (see STRATEGY_ENGINES)',
  });
export type Scenario = z.infer<typeof Scenario>;

const BASE: Scenario = {
  name: 'custom',
  buyers: 100,
  keys: 1,
  strategy: 'naive',
  engine: 'sqlite',
  arrival: { kind: 'burst', windowMs: 5 },
  think: { kind: 'fixed', ms: 100, maxMs: 100 },
  workers: 4,
  connectionsPerWorker: 8,
  seed: 1,
  client: { timeoutMs: 0, retries: 0, idempotencyKey: false },
  cacheTtlMs: 0,
  splitTransaction: false,
  leaseTtlMs: 5000,
};

export const PRESET_IDS = ['incident', 'four-layers', 'stale-cache', 'split-transaction', 'retry-without-idempotency'] as const;
export const PresetId = z.enum(PRESET_IDS);
export type PresetId = z.infer<typeof PresetId>;

/** The incident and one preset per lesson of the article. */
export const PRESETS: Readonly<Record<PresetId, Scenario>> = {
  /** 100 buyers press "buy" on the last key within 5 ms; the article's code reads, sleeps 100 ms, writes. */
  incident: { ...BASE, name: 'incident' },
  /** The same crowd against the article's four layers together. */
  'four-layers': { ...BASE, name: 'four-layers', strategy: 'four-layers' },
  /** Buyers arrive one after another (no overlap at all), but the stock check reads a cache that lives 10 s. */
  'stale-cache': {
    ...BASE,
    name: 'stale-cache',
    buyers: 20,
    keys: 2,
    arrival: { kind: 'spread', windowMs: 400 },
    think: { kind: 'fixed', ms: 2, maxMs: 2 },
    cacheTtlMs: 10_000,
  },
  /** Stock decrement and order creation in two transactions: the buyer is told "success" in between. */
  'split-transaction': {
    ...BASE,
    name: 'split-transaction',
    buyers: 20,
    keys: 5,
    strategy: 'conditional-update',
    think: { kind: 'uniform', ms: 5, maxMs: 30 },
    splitTransaction: true,
  },
  /** The client times out after 50 ms and retries once, with no idempotency key; the server finishes both. */
  'retry-without-idempotency': {
    ...BASE,
    name: 'retry-without-idempotency',
    buyers: 20,
    keys: 50,
    strategy: 'conditional-update',
    arrival: { kind: 'spread', windowMs: 100 },
    think: { kind: 'uniform', ms: 20, maxMs: 90 },
    client: { timeoutMs: 50, retries: 1, idempotencyKey: false },
  },
};

export function preset(id: PresetId): Scenario {
  return structuredClone(PRESETS[id]);
}

/** What a step of a buyer did. `think` and `begin`/`rollback` add to the list for the timeline. */
export const STEPS = [
  'invoke',
  'begin',
  'read',
  'think',
  'lock_wait',
  'write',
  'commit',
  'rollback',
  'ok',
  'fail',
  'unknown',
] as const;
export const StepKind = z.enum(STEPS);
export type StepKind = z.infer<typeof StepKind>;

export const EventDetail = z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]));
export type EventDetail = z.infer<typeof EventDetail>;

export const HistoryEvent = z.strictObject({
  /** Position in the history. */
  i: z.int().min(0),
  buyer: z.int().min(0),
  /** 1 for the first attempt, 2 for the client's first retry, ... */
  attempt: z.int().min(1),
  step: StepKind,
  /** Live: microseconds since the start (process.hrtime). Deterministic: the logical step number. */
  t: z.number().min(0),
  detail: EventDetail,
});
export type HistoryEvent = z.infer<typeof HistoryEvent>;

export const FinalOrder = z.strictObject({
  id: z.int(),
  buyer: z.int(),
  attempt: z.int(),
  keyId: z.int().nullable(),
  token: z.string().nullable(),
});
export type FinalOrder = z.infer<typeof FinalOrder>;

/** The scratch database after the run, read by the checker and by layer four (reconciliation). */
export const FinalState = z.strictObject({
  stock: z.int(),
  counter: z.int().nullable(),
  keysSold: z.int(),
  orders: z.array(FinalOrder),
});
export type FinalState = z.infer<typeof FinalState>;

export const History = z.strictObject({
  version: z.literal(1),
  mode: SimMode,
  timeUnit: z.enum(['us', 'step']),
  scenario: Scenario,
  initialStock: z.int().min(0),
  events: z.array(HistoryEvent),
  final: FinalState,
});
export type History = z.infer<typeof History>;

export const ANOMALIES = [
  'key_sold_twice',
  'oversold',
  'success_without_durable_order',
  'lost_update',
  'double_purchase_on_retry',
  'stale_read',
] as const;
export const AnomalyName = z.enum(ANOMALIES);
export type AnomalyName = z.infer<typeof AnomalyName>;

export const Anomaly = z.strictObject({
  name: AnomalyName,
  /** Indexes (`i`) of the events involved. */
  events: z.array(z.int().min(0)),
  message: z.strictObject({ en: z.string(), 'zh-CN': z.string() }),
});
export type Anomaly = z.infer<typeof Anomaly>;

export const Latency = z.strictObject({ p50: z.number(), p99: z.number(), mean: z.number(), max: z.number() });

/** One run, summed up: what the CLI prints with --json and the page's outcome panel shows. */
export const RunSummary = z.strictObject({
  scenario: z.string(),
  strategy: StrategyName,
  engine: SimEngine,
  mode: SimMode,
  buyers: z.int(),
  keys: z.int(),
  seed: z.int(),
  /** Purchases told "success" (idempotent replays of one purchase count once). */
  successes: z.int(),
  oversold: z.int(),
  declined: z.int(),
  errors: z.int(),
  /** Attempts the client gave up on (timeout) without knowing the outcome. */
  unknown: z.int(),
  anomalies: z.array(AnomalyName),
  /** Milliseconds from a purchase's first invoke to its answer (live), or steps (deterministic). */
  latencyMs: Latency,
  durationMs: z.number(),
  throughputPerS: z.number(),
  historySha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type RunSummary = z.infer<typeof RunSummary>;

export const RunResult = z.strictObject({
  summary: RunSummary,
  anomalies: z.array(Anomaly),
  history: History,
});
export type RunResult = z.infer<typeof RunResult>;

/** Enumerating every interleaving of a few buyers under one strategy. */
export const EnumerationResult = z.strictObject({
  strategy: StrategyName,
  buyers: z.int(),
  interleavings: z.int(),
  broken: z.int(),
  /** False when the budget ran out before every interleaving was tried. */
  complete: z.boolean(),
  /** The choices (buyer indexes, one per step) of the first broken interleaving found. */
  firstBroken: z.array(z.int()).nullable(),
});
export type EnumerationResult = z.infer<typeof EnumerationResult>;

/** Percentile of sorted numbers (nearest rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** One line of the before/after table. Oversell rate: the share of "successful" purchases that had no unit. */
export interface ComparisonRow {
  readonly strategy: StrategyName;
  readonly engine: SimEngine;
  readonly successes: number;
  readonly oversold: number;
  readonly declined: number;
  readonly errors: number;
  readonly oversellRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly throughputPerS: number;
  readonly anomalies: readonly AnomalyName[];
}

export function comparisonRow(s: RunSummary): ComparisonRow {
  return {
    strategy: s.strategy,
    engine: s.engine,
    successes: s.successes,
    oversold: s.oversold,
    declined: s.declined,
    errors: s.errors,
    oversellRate: s.successes > 0 ? s.oversold / s.successes : 0,
    p50Ms: s.latencyMs.p50,
    p99Ms: s.latencyMs.p99,
    throughputPerS: s.throughputPerS,
    anomalies: s.anomalies,
  };
}
