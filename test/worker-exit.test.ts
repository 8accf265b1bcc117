/**
 * Background threads never keep a process alive on their own. Adding a 'message' listener to a Worker
 * refs it again, so an `unref()` made before the listeners was undone: a process that used the
 * writer's checkpoint worker and did not close it ran forever.
 */
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/buyer-process';
import { tempDir } from './helpers/shop';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

describe('worker threads left open', () => {
  it('let the process exit once its own work is done', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'test/helpers/left-open.ts', dir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearTimeout(timer);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const result = JSON.parse(stdout) as { checkpoints: number; prepared: number; tickets: number };
    expect(result.checkpoints).toBeGreaterThan(0);
    expect(result.prepared).toBe(2);
    expect(result.tickets).toBe(16);
  }, 40_000);
});
