/**
 * `oncekey simulate`: replay the "100 buyers, one key" incident on a scratch database.
 *
 *   oncekey simulate --preset incident --strategy naive [--buyers N --keys K --seed S --mode live|deterministic] [--json]
 *   oncekey simulate --preset incident --compare [--json]          every strategy, the before/after table
 *   oncekey simulate --enumerate --buyers 2 [--strategy naive]     every interleaving, how many break
 *   oncekey simulate --scenario saved.json [--history out.json]    load a saved scenario / save the history
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  comparisonRow,
  PRESET_IDS,
  PresetId,
  preset,
  Scenario,
  SimMode,
  STRATEGIES,
  StrategyName,
  type RunResult,
  type StrategyName as StrategyNameT,
} from '../../../shared/sim';
import { compareStrategies, enumerateInterleavings, historyJson, runScenario } from '../../sim';
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
} as const;

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
    `${s.scenario}: ${s.buyers} buyers, ${s.keys} keys, strategy ${s.strategy}, ${s.mode} mode, seed ${s.seed}`,
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
  const strategy = oneOf(values.strategy, STRATEGIES, '--strategy');
  const mode = oneOf(values.mode, SimMode.options, '--mode') ?? 'live';
  const overrides: Partial<Scenario> = {
    ...(strategy ? { strategy } : {}),
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
    const strategies: StrategyNameT[] = strategy ? [StrategyName.parse(strategy)] : [...STRATEGIES];
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
    const results = await compareStrategies(scenario, mode);
    const rows = results.map((r) => comparisonRow(r.summary));
    if (values.json) printJson(io, { scenario: scenario.name, mode, buyers: scenario.buyers, keys: scenario.keys, rows });
    else {
      io.out(`${scenario.name}: ${scenario.buyers} buyers, ${scenario.keys} keys, ${mode} mode`);
      io.out(
        table(
          ['strategy', 'sold', 'oversold', 'oversell rate', 'declined', 'errors', 'p50 ms', 'p99 ms', 'throughput/s'],
          rows.map((r) => [
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

  const result = await runScenario(scenario, mode);
  if (values.history !== undefined) writeFileSync(values.history, historyJson(result.history));
  if (values.json) printJson(io, { ...result.summary, anomalyDetails: result.anomalies });
  else for (const line of readable(result)) io.out(line);
  return 0;
}
