/** `oncekey simulate` as a real process: --json output, the comparison, enumeration and usage errors. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { History, preset, RunSummary } from '../shared/sim';
import { runCli, type CliResult } from './helpers/cli';

const cli = (args: readonly string[], timeoutMs = 50_000): Promise<CliResult> => runCli(['simulate', ...args], { timeoutMs });

const dir = mkdtempSync(join(tmpdir(), 'oncekey-sim-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('oncekey simulate', () => {
  it('--json prints one object with the outcome of the live incident under naive', async () => {
    const { code, stdout } = await cli(['--preset', 'incident', '--strategy', 'naive', '--json']);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const { anomalyDetails, ...out } = JSON.parse(stdout) as Record<string, unknown>;
    const summary = RunSummary.parse(out);
    expect(anomalyDetails).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'oversold' })]));
    expect(summary).toMatchObject({ strategy: 'naive', mode: 'live', buyers: 100, keys: 1 });
    expect(summary.oversold).toBeGreaterThan(0);
    expect(summary.anomalies).toContain('oversold');
    expect(summary.successes + summary.declined + summary.errors + summary.unknown).toBe(100);
  });

  it('deterministic mode with a seed gives the same historySha256 twice, and saves the history', async () => {
    const args = [
      '--preset',
      'incident',
      '--strategy',
      'optimistic',
      '--mode',
      'deterministic',
      '--buyers',
      '12',
      '--keys',
      '3',
      '--seed',
      '9',
      '--json',
    ];
    const file = join(dir, 'history.json');
    const a = JSON.parse((await cli([...args, '--history', file])).stdout) as {
      historySha256: string;
      successes: number;
      anomalies: string[];
    };
    const b = JSON.parse((await cli(args)).stdout) as { historySha256: string };
    expect(b.historySha256).toBe(a.historySha256);
    expect(a).toMatchObject({ successes: 3, anomalies: [] });
    const saved = History.parse(JSON.parse(readFileSync(file, 'utf8')));
    expect(saved.scenario).toMatchObject({ buyers: 12, keys: 3, seed: 9, strategy: 'optimistic' });
    // A saved history (or scenario) loads again and replays to the same bytes.
    const c = JSON.parse((await cli(['--scenario', file, '--mode', 'deterministic', '--json'])).stdout) as {
      historySha256: string;
    };
    expect(c.historySha256).toBe(a.historySha256);
  });

  it('--compare prints the before/after table for every strategy', async () => {
    const { code, stdout } = await cli([
      '--preset',
      'incident',
      '--compare',
      '--mode',
      'deterministic',
      '--buyers',
      '8',
      '--json',
    ]);
    expect(code).toBe(0);
    const { rows } = JSON.parse(stdout) as { rows: { strategy: string; oversold: number; oversellRate: number }[] };
    expect(rows.map((r) => r.strategy)).toEqual([
      'naive',
      'deferred',
      'immediate',
      'conditional-update',
      'optimistic',
      'counter-gate',
      'lock-lease',
      'four-layers',
    ]);
    for (const row of rows.slice(1)) expect(row.oversold).toBe(0);
    const text = await cli(['--preset', 'incident', '--compare', '--mode', 'deterministic', '--buyers', '8']);
    expect(text.stdout).toMatch(/strategy\s+sold\s+oversold\s+oversell rate/);
  });

  it('--enumerate counts the interleavings of two buyers', async () => {
    const { stdout } = await cli(['--enumerate', '--buyers', '2', '--strategy', 'naive', '--json']);
    expect(JSON.parse(stdout)).toMatchObject({ results: [{ strategy: 'naive', interleavings: 16, broken: 12, complete: true }] });
  });

  it('refuses bad input with one line and exit code 2', async () => {
    const bad = await cli(['--strategy', 'yolo']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^oncekey simulate: --strategy must be one of: naive, deferred/);
    const scenarioFile = join(dir, 'bad.json');
    writeFileSync(scenarioFile, JSON.stringify({ ...preset('incident'), buyers: -1 }));
    const invalid = await cli(['--scenario', scenarioFile]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/buyers/);
  });
});
