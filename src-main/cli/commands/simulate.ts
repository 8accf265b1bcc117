/**
 * `oncekey simulate`: replay the "100 buyers, one key" incident on a scratch database.
 *
 *   oncekey simulate --preset incident --strategy naive [--buyers N --keys K --seed S --mode live|deterministic] [--json]
 *   oncekey simulate --postgres URL --strategy for-update [--json]  on a real PostgreSQL (a scratch schema, dropped after)
 *   oncekey simulate --postgres URL --redis URL --strategy counter-gate   Redis beside PostgreSQL
 *   oncekey simulate --preset incident --compare [--json]          every strategy of every engine configured
 *   oncekey simulate --enumerate --buyers 2 [--strategy naive]     every interleaving, how many break (SQLite)
 *   oncekey simulate --scenario saved.json [--history out.json]    load a saved scenario / save the history
 *
 * The URLs default to ONCEKEY_SIM_POSTGRES_URL and ONCEKEY_SIM_REDIS_URL. Without --engine, a URL given on
 * the command line picks its engine when the strategy runs there (PostgreSQL first), else the scenario's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  ALL_STRATEGIES,
  comparisonRow,
  deterministicOn,
  ENGINES,
  PRESET_IDS,
  PresetId,
  preset,
  runsOn,
  Scenario,
  SimMode,
  STRATEGIES,
  type RunResult,
  type SimEngine,
  type StrategyName,
} from '../../../shared/sim';
import {
  availableEngines,
  compareStrategies,
  enumerateInterleavings,
  historyJson,
  runScenario,
  SimConfigError,
  urlsFromEnv,
  type ServerUrls,
} from '../../sim';
import { JSON_OPTION, parse, parseInteger, printJson, table, UsageError, type Io } from '../context';

const OPTIONS = {
  ...JSON_OPTION,
  preset: { type: 'string' },
  scenario: { type: 'string' },
  strategy: { type: 'string' },
  buyers: { type: 'string' },
  keys: { type: 'string' },
  seed: { type: 'string' },
  workers: { type: 'string' },
  mode: { type: 'string' },
  history: { type: 'string' },
  compare: { type: 'boolean', default: false },
  enumerate: { type: 'boolean', default: false },
  engine: { type: 'string' },
  postgres: { type: 'string' },
  redis: { type: 'string' },
} as const;

/** --engine, else the engine of a URL given here that the strategy runs on (PostgreSQL first), else the scenario's. */
function pickEngine(
  explicit: SimEngine | undefined,
  strategy: StrategyName,
  flags: { postgres: boolean; redis: boolean },
  base: SimEngine,
): SimEngine {
  if (explicit) return explicit;
  if (flags.postgres && runsOn(strategy, 'postgres')) return 'postgres';
  if (flags.redis && runsOn(strategy, 'redis')) return 'redis';
  if (runsOn(strategy, base)) return base;
  return ENGINES.find((engine) => runsOn(strategy, engine)) ?? base;
}

/** A scenario the servers cannot run as asked is a usage error (exit 2), said in one line. */
async function usage<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof SimConfigError) throw new UsageError(error.message);
    throw error;
  }
}

function loadScenario(file: string): Scenario {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read scenario ${file}: ${(error as Error).message}`);
  }
  // A saved history holds its scenario; a saved scenario is the object itself.
  const candidate = (raw as { scenario?: unknown } | null)?.scenario ?? raw;
  const parsed = Scenario.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`scenario ${file} is not valid: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim());
  }
  return parsed.data;
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of: ${allowed.join(', ')}`);
  return value as T;
}

function readable(result: RunResult): string[] {
  const s = result.summary;
  const lines = [
    `${s.scenario}: ${s.buyers} buyers, ${s.keys} keys, strategy ${s.strategy} on ${s.engine}, ${s.mode} mode, seed ${s.seed}`,
    `  sold ${s.successes}  oversold ${s.oversold}  declined ${s.declined}  errors ${s.errors}  unknown ${s.unknown}`,
    s.mode === 'live'
      ? `  latency p50 ${s.latencyMs.p50.toFixed(1)} ms  p99 ${s.latencyMs.p99.toFixed(1)} ms  throughput ${s.throughputPerS.toFixed(0)}/s  (${s.durationMs.toFixed(0)} ms)`
      : `  ${s.durationMs} steps; history sha256 ${s.historySha256}`,
  ];
  if (result.anomalies.length === 0) lines.push('  no anomalies');
  else for (const a of result.anomalies.slice(0, 10)) lines.push(`  ${a.name}: ${a.message.en}`);
  if (result.anomalies.length > 10) lines.push(`  … and ${result.anomalies.length - 10} more`);
  return lines;
}

export async function simulateCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, OPTIONS);
  const presetId = oneOf(values.preset, PRESET_IDS, '--preset');
  if (presetId !== undefined && values.scenario !== undefined) throw new UsageError('give --preset or --scenario, not both');
  const base = values.scenario !== undefined ? loadScenario(values.scenario) : preset(presetId ?? PresetId.enum.incident);
  const strategy = oneOf(values.strategy, ALL_STRATEGIES, '--strategy');
  const mode = oneOf(values.mode, SimMode.options, '--mode') ?? 'live';
  const env = urlsFromEnv();
  const servers: ServerUrls = { postgres: values.postgres ?? env.postgres, redis: values.redis ?? env.redis };
  const explicitEngine = oneOf(values.engine, ENGINES, '--engine');
  const engine = pickEngine(
    explicitEngine,
    strategy ?? base.strategy,
    { postgres: values.postgres !== undefined, redis: values.redis !== undefined },
    base.engine,
  );
  const overrides: Partial<Scenario> = {
    ...(strategy ? { strategy } : {}),
    engine,
    ...(values.buyers !== undefined ? { buyers: parseInteger(values.buyers, '--buyers', base.buyers, 1) } : {}),
    ...(values.keys !== undefined ? { keys: parseInteger(values.keys, '--keys', base.keys, 0) } : {}),
    ...(values.seed !== undefined ? { seed: parseInteger(values.seed, '--seed', base.seed, 0) } : {}),
    ...(values.workers !== undefined ? { workers: parseInteger(values.workers, '--workers', base.workers, 1) } : {}),
  };
  const checked = Scenario.safeParse({ ...base, ...overrides });
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new UsageError(`${issue?.path.join('.') ?? 'scenario'}: ${issue?.message ?? 'invalid'}`);
  }
  const scenario = checked.data;

  if (values.enumerate) {
    if (scenario.buyers < 2 || scenario.buyers > 4) throw new UsageError('--enumerate takes --buyers 2, 3 or 4');
    if (strategy && !runsOn(strategy, 'sqlite')) throw new UsageError(`--enumerate steps SQLite; ${strategy} does not run there`);
    const strategies: StrategyName[] = strategy && runsOn(strategy, 'sqlite') ? [strategy] : [...STRATEGIES];
    const rows = strategies.map((name) =>
      enumerateInterleavings({
        strategy: name,
        buyers: scenario.buyers,
        keys: Math.min(scenario.keys, scenario.buyers - 1) || 1,
        base: scenario,
      }),
    );
    if (values.json) printJson(io, { buyers: scenario.buyers, results: rows });
    else
      io.out(
        table(
          ['strategy', 'interleavings', 'broken', 'complete'],
          rows.map((r) => [r.strategy, r.interleavings, r.broken, r.complete ? 'yes' : 'no (budget)']),
        ),
      );
    return 0;
  }

  if (values.compare) {
    // Every engine configured (live), or the one asked for; deterministic runs step SQLite alone.
    const engines = explicitEngine
      ? [explicitEngine]
      : availableEngines(servers).filter((e) => mode === 'live' || deterministicOn(e));
    const results = await usage(() => compareStrategies(scenario, mode, { servers, engines }));
    const rows = results.map((r) => comparisonRow(r.summary));
    if (values.json)
      printJson(io, { scenario: scenario.name, mode, buyers: scenario.buyers, keys: scenario.keys, engines, rows });
    else {
      io.out(`${scenario.name}: ${scenario.buyers} buyers, ${scenario.keys} keys, ${mode} mode`);
      io.out(
        table(
          ['engine', 'strategy', 'sold', 'oversold', 'oversell rate', 'declined', 'errors', 'p50 ms', 'p99 ms', 'throughput/s'],
          rows.map((r) => [
            r.engine,
            r.strategy,
            r.successes,
            r.oversold,
            `${(r.oversellRate * 100).toFixed(1)}%`,
            r.declined,
            r.errors,
            r.p50Ms.toFixed(1),
            r.p99Ms.toFixed(1),
            r.throughputPerS.toFixed(0),
          ]),
        ),
      );
    }
    return 0;
  }

  const result = await usage(() => runScenario(scenario, mode, { servers }));
  if (values.history !== undefined) writeFileSync(values.history, historyJson(result.history));
  if (values.json) printJson(io, { ...result.summary, anomalyDetails: result.anomalies });
  else for (const line of readable(result)) io.out(line);
  return 0;
}
