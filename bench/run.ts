/**
 * `npm run bench`: every benchmark in one run. Prints a table for people (key, value, target, pass/fail)
 * and, with `--json`, ONE JSON object on the last line of stdout with every key plus the machine
 * (`cpus`, `node`, `sqlite`). `--quick` uses small sizes (for the test); `--only <prefix>` runs the
 * entries whose name starts with the prefix.
 *
 * Others add their benchmark as one entry of BENCHES: `{ name, run(opts) => Promise<Record<string, number>> }`,
 * and its targets (if any) to TARGETS.
 */
import { availableParallelism, cpus } from 'node:os';
import Database from 'better-sqlite3';
import { benchEngine } from './engine-bench';
import { benchHttp } from './http-bench';
import { benchImport } from './import-bench';
import { benchPostgres } from './pg-bench';
import { benchReconcile } from './reconcile-bench';
import { isSpreadKey } from './rounds';
import { benchSimLive } from './sim-bench';

export interface BenchOptions {
  /** Small sizes: checks that everything runs, not how fast. */
  readonly quick: boolean;
}

export interface Bench {
  readonly name: string;
  run(opts: BenchOptions): Promise<Record<string, number>>;
}

export interface Target {
  readonly op: '>=' | '<=' | '===' | '>' | '<';
  readonly value: number;
}

/** The benchmarks, run in this order. One line each. */
export const BENCHES: Bench[] = [
  { name: 'engine', run: (o) => benchEngine({ quick: o.quick }) },
  {
    name: 'http',
    run: (o) =>
      benchHttp(
        o.quick
          ? { keys: 30_000, durationSeconds: 1, warmupSeconds: 0.5, rounds: 2, bursts: 3, open: { perSecond: 500, seconds: 2 } }
          : {},
      ),
  },
  { name: 'import', run: async (o) => ({ ...(await benchImport({ codes: o.quick ? 20_000 : 1_000_000 })) }) },
  { name: 'sim', run: (o) => benchSimLive({ quick: o.quick }) },
  { name: 'reconcile', run: async (o) => benchReconcile(o) },
  // Skipped with one line saying why when there is no PostgreSQL (bench/pg-bench.ts).
  { name: 'postgres', run: (o) => benchPostgres({ quick: o.quick }) },
];

/** Targets from the issues, for the pass/fail column. Keys without a target are informative. */
export const TARGETS: Record<string, Target> = {
  engine_vs_raw_batched: { op: '>=', value: 0.8 },
  safe_vs_naive: { op: '>=', value: 0.9 },
  naive_oversold: { op: '>', value: 0 },
  sim_live_10k_buyers_s: { op: '<', value: 10 },
  sim_live_oversold: { op: '===', value: 0 },
  import_vs_limit: { op: '>=', value: 0.8 },
  import_peak_rss_mb: { op: '<', value: 300 },
  http_orders_vs_bare: { op: '>=', value: 0.4 },
  http_cpu_vs_bare: { op: '>=', value: 0.4 },
  http_orders_p99_ms: { op: '<=', value: 10 },
  http_burst100_p99_ms: { op: '<=', value: 15 },
  http_burst100_failed: { op: '===', value: 0 },
  http_open2k_p99_ms: { op: '<=', value: 10 },
  http_oversold: { op: '===', value: 0 },
  reconcile_1m_orders_s: { op: '<', value: 10 },
  pg_engine_vs_raw: { op: '>=', value: 0.8 },
  pg_http_oversold: { op: '===', value: 0 },
};

export function meets(value: number, target: Target): boolean {
  switch (target.op) {
    case '>=':
      return value >= target.value;
    case '<=':
      return value <= target.value;
    case '>':
      return value > target.value;
    case '<':
      return value < target.value;
    case '===':
      return value === target.value;
  }
}

/** The machine the figures come from. */
export function machine(): Record<string, number | string> {
  const db = new Database(':memory:');
  try {
    return {
      cpus: availableParallelism(),
      cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
      node: process.versions.node,
      sqlite: db.prepare('SELECT sqlite_version()').pluck().get() as string,
    };
  } finally {
    db.close();
  }
}

export interface RunArgs {
  readonly quick: boolean;
  readonly json: boolean;
  readonly only: string | null;
}

export function parseArgs(argv: readonly string[]): RunArgs {
  let only: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--only') {
      only = argv[++i] ?? null;
      if (only === null) throw new Error('--only needs a benchmark name prefix');
    } else if (arg.startsWith('--only=')) only = arg.slice('--only='.length);
    else if (arg !== '--quick' && arg !== '--json')
      throw new Error(`unknown option ${arg} (use --quick, --json, --only <prefix>)`);
  }
  return { quick: argv.includes('--quick'), json: argv.includes('--json'), only };
}

export async function runBenches(args: RunArgs, log: (line: string) => void): Promise<Record<string, number | string>> {
  const selected = BENCHES.filter((b) => args.only === null || b.name.startsWith(args.only));
  if (selected.length === 0)
    throw new Error(`no benchmark matches --only ${args.only ?? ''} (have: ${BENCHES.map((b) => b.name).join(', ')})`);
  const results: Record<string, number | string> = { ...machine() };
  for (const bench of selected) {
    const start = performance.now();
    log(`running ${bench.name}${args.quick ? ' (quick)' : ''}...`);
    Object.assign(results, await bench.run({ quick: args.quick }));
    log(`  ${bench.name} done in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  }
  return results;
}

/** The table for people; a figure measured in rounds shows its lowest and highest round beside it. */
export function table(results: Record<string, number | string>): string {
  const rows = Object.entries(results)
    .filter(([key]) => !isSpreadKey(key, results))
    .map(([key, value]) => {
      const target = TARGETS[key];
      const verdict = target && typeof value === 'number' ? (meets(value, target) ? 'pass' : 'FAIL') : '';
      const shown = `${key}_min` in results ? `${value} (${results[`${key}_min`]}-${results[`${key}_max`]})` : String(value);
      return [key, shown, target ? `${target.op} ${target.value}` : '', verdict];
    });
  const head = ['key', 'value', 'target', 'result'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  let args: RunArgs;
  try {
    args = parseArgs(argv);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 2;
  }
  // Progress goes to stderr, so that with --json the last line of stdout is the JSON object.
  let results: Record<string, number | string>;
  try {
    results = await runBenches(args, (line) => console.error(line));
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  console.log(table(results));
  if (args.json) console.log(JSON.stringify(results));
  return 0;
}
