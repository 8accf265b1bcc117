/**
 * `oncekey serve`'s options that are refused before anything starts: `--retry-deadline` (how long a
 * PostgreSQL shop runs a write again before it answers busy) is a number of seconds above 0 and at most
 * 600, and only with `--database`, since SQLite's writer has no such deadline. Each refusal is one line
 * with exit code 2, and names no password; a valid one reaches PgShop.open. No PostgreSQL is needed:
 * nothing connects.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startPgShop } from '../src-main/app/start-pg-shop';
import { retryDeadlineOption } from '../src-main/cli/commands/serve';
import { main } from '../src-main/cli/main';
import { PgShop } from '../src-main/pg/shop';
import { tempDir } from './helpers/shop';

const URL = 'postgres://oncekey:s3cret-pw@127.0.0.1:1/shop';
let folder: { dir: string; cleanup: () => void };
beforeEach(() => {
  vi.stubEnv('ONCEKEY_DATABASE_URL', undefined);
  folder = tempDir();
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  folder.cleanup();
});

async function serve(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['serve', '--data', folder.dir, '--port', '0', ...args], {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, out, err };
}

describe('oncekey serve --retry-deadline', () => {
  it('is refused on SQLite in one line that says it needs --database', async () => {
    const result = await serve('--retry-deadline', '5');
    expect(result.code).toBe(2);
    expect(result.out).toEqual([]);
    expect(result.err).toEqual([
      'oncekey serve: --retry-deadline applies to PostgreSQL only: give it with --database postgres://... (or ONCEKEY_DATABASE_URL)',
    ]);
  });

  it.each(['0', '0.0', '=-1', 'abc', '1e3', '601', '10s', ''])(
    'refuses %j as a deadline before connecting, without the password',
    async (value) => {
      const flag = value.startsWith('=') ? [`--retry-deadline${value}`] : ['--retry-deadline', value];
      const result = await serve('--database', URL, ...flag);
      expect(result.code).toBe(2);
      expect(result.err).toEqual(['oncekey serve: --retry-deadline is a number of seconds above 0 and at most 600, e.g. 10']);
      expect(result.err.join('\n')).not.toContain('s3cret-pw');
    },
  );

  it('takes whole and decimal seconds up to ten minutes, and nothing when absent', () => {
    expect(retryDeadlineOption('2.5', URL)).toBe(2500);
    expect(retryDeadlineOption('600', URL)).toBe(600_000);
    expect(retryDeadlineOption('0.0001', URL)).toBe(1);
    expect(retryDeadlineOption(undefined, URL)).toBeUndefined();
    expect(retryDeadlineOption(undefined, undefined)).toBeUndefined();
  });

  it('reaches the PostgreSQL shop as retryDeadlineMs', async () => {
    const open = vi.spyOn(PgShop, 'open').mockRejectedValue(new Error('not connecting in this test'));
    const options = { dataDir: folder.dir, host: '127.0.0.1', port: 0, rateLimitPerMinute: 0, database: URL };
    await expect(startPgShop({ ...options, retryDeadlineMs: 2500 })).rejects.toThrow('not connecting');
    expect(open).toHaveBeenLastCalledWith(expect.objectContaining({ url: URL, retryDeadlineMs: 2500 }));
    await expect(startPgShop(options)).rejects.toThrow('not connecting');
    expect(open.mock.lastCall?.[0]).not.toHaveProperty('retryDeadlineMs');
  });
});
