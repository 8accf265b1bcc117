/**
 * `npm run bench` end to end at quick sizes, as a real OS process: the table and ONE JSON object on
 * the last line of stdout, every required key present and finite, the naive shop caught overselling
 * and the HTTP endpoint not (on PostgreSQL too, where there is one; else the line saying why it was
 * skipped). Speed is never asserted here (that is what the benchmark reports).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { meets, parseArgs, table, TARGETS } from '../bench/run';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const REQUIRED = [
  'engine_claims_per_s',
  'engine_claims_per_s_1',
  'engine_claims_per_s_8',
  'engine_claims_per_s_uuid',
  'engine_tx_only_claims_per_s',
  'raw_single_claims_per_s',
  'raw_batched_claims_per_s',
  'engine_vs_raw_batched',
  'naive_claims_per_s',
  'naive_oversold',
  'safe_vs_naive',
  'http_orders_per_s',
  'http_orders_p99_ms',
  'http_bare_per_s',
  'http_orders_vs_bare',
  'http_orders_vs_bare_min',
  'http_orders_vs_bare_max',
  'http_server_us_per_order',
  'http_bare_server_us_per_request',
  'http_cpu_vs_bare',
  'http_health_server_us_per_request',
  'http_engine_us_per_claim',
  'http_cpu_vs_bare_ceiling',
  'http_burst100_p99_ms',
  'http_burst100_failed',
  'http_open2k_p99_ms',
  'http_oversold',
  'import_codes_per_s',
  'import_peak_rss_mb',
  'import_vs_limit',
  'engine_vs_raw_batched_min',
  'engine_vs_raw_batched_max',
  'sim_live_10k_buyers_s',
  'reconcile_1m_orders_s',
];

/**
 * The PostgreSQL benchmark's keys: present when there is a PostgreSQL (a throw-away server from the
 * embedded binaries, or ONCEKEY_BENCH_POSTGRES_URL); without one the run says why in one line instead.
 */
const PG_REQUIRED = [
  'pg_durable',
  'pg_engine_claims_per_s',
  'pg_raw_claims_per_s',
  'pg_engine_vs_raw',
  'pg_engine_vs_raw_min',
  'pg_engine_vs_raw_max',
  'pg_raw_batched_claims_per_s',
  'pg_engine_vs_raw_batched',
  'pg_batch_avg',
  'pg_raw_no_ledger_claims_per_s',
  'pg_raw_ledger_vs_no_ledger',
  'pg_raw_batched_no_ledger_claims_per_s',
  'pg_raw_batched_ledger_vs_no_ledger',
  'pg_http_orders_per_s',
  'pg_http_orders_p99_ms',
  'pg_http_errors',
  'pg_http_oversold',
];

function runBench(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/bench.js', ...args],
      { cwd: ROOT, timeout: 170_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('npm run bench', () => {
  it('prints the table and one JSON line with every key (quick sizes)', { timeout: 180_000 }, async () => {
    const { code, stdout, stderr } = await runBench(['--quick', '--json']);
    expect(code, stderr).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    const results = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    const postgres = 'pg_engine_claims_per_s' in results;
    if (!postgres) expect(stderr).toMatch(/postgres bench skipped: \S/);
    const required = postgres ? [...REQUIRED, ...PG_REQUIRED] : REQUIRED;
    for (const key of required) {
      expect(typeof results[key], key).toBe('number');
      expect(Number.isFinite(results[key]), key).toBe(true);
    }
    expect(results.cpus).toBeGreaterThan(0);
    expect(results.node).toBe(process.versions.node);
    expect(results.sqlite).toMatch(/^3\.\d+\.\d+$/);
    expect(results.naive_oversold).toBeGreaterThan(0);
    expect(results.http_oversold).toBe(0);
    expect(results.http_burst100_failed).toBe(0);
    if (postgres) {
      expect(results.pg_http_oversold).toBe(0);
      expect([0, 1]).toContain(results.pg_durable);
    }
    // The table for people comes before the JSON line and names every key (a spread beside its figure).
    const tableText = lines.slice(0, -1).join('\n');
    for (const key of required.filter((k) => !/_(min|max)$/.test(k))) expect(tableText).toContain(`| ${key} `);
    expect(tableText).not.toContain('| engine_vs_raw_batched_min ');
  });

  it('runs only the entries named by --only', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await runBench(['--quick', '--json', '--only', 'engine']);
    expect(code, stderr).toBe(0);
    const results = JSON.parse(stdout.trimEnd().split('\n').at(-1)!) as Record<string, unknown>;
    expect(results).toHaveProperty('engine_claims_per_s');
    expect(results).not.toHaveProperty('http_orders_per_s');
  });

  it('rejects unknown options and an --only that matches nothing', async () => {
    expect(() => parseArgs(['--fast'])).toThrow(/unknown option/);
    expect(() => parseArgs(['--only'])).toThrow(/--only/);
    expect(parseArgs(['--only', 'http', '--json'])).toEqual({ quick: false, json: true, only: 'http' });
    const { code, stderr } = await runBench(['--quick', '--only', 'nothing']);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/no benchmark matches/);
  });

  it('marks each keyed target pass or FAIL in the table', () => {
    expect(meets(0.85, TARGETS.engine_vs_raw_batched!)).toBe(true);
    expect(meets(0.5, TARGETS.engine_vs_raw_batched!)).toBe(false);
    expect(meets(0, TARGETS.http_oversold!)).toBe(true);
    expect(meets(0, TARGETS.pg_http_oversold!)).toBe(true);
    expect(meets(1, TARGETS.pg_http_oversold!)).toBe(false);
    expect(meets(0.79, TARGETS.pg_engine_vs_raw!)).toBe(false);
    const text = table({ http_oversold: 1, engine_vs_raw_batched: 0.9, cpus: 2 });
    expect(text).toMatch(/\| http_oversold +\| 1 +\| === 0 +\| FAIL/);
    expect(text).toMatch(/\| engine_vs_raw_batched +\| 0\.9 +\| >= 0\.8 +\| pass/);
    const rounds = table({ http_cpu_vs_bare: 0.41, http_cpu_vs_bare_min: 0.38, http_cpu_vs_bare_max: 0.45 });
    expect(rounds).toMatch(/\| http_cpu_vs_bare +\| 0\.41 \(0\.38-0\.45\) +\| >= 0\.4 +\| pass/);
    expect(rounds).not.toContain('_min');
  });
});
