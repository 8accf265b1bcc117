/**
 * `node bin/oncekey.js ...` as a real process, as a person runs it, bounded in time: its exit code and
 * what it printed. The environment's shop settings (ONCEKEY_DATABASE_URL, ONCEKEY_PASSPHRASE, the
 * simulator's server URLs) are not inherited, so a test's shop is only what its arguments and `env` name.
 */
import { spawn } from 'node:child_process';
import { ROOT } from './http';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Added to the environment (after the shop settings are removed). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Killed with SIGKILL, and the promise rejected, past this (default 120 s: one start of the CLI through
   * tsx takes ~5 s on an idle 2-core machine, and many times that while other test files load it).
   */
  readonly timeoutMs?: number;
}

const SHOP_SETTINGS = ['ONCEKEY_DATABASE_URL', 'ONCEKEY_PASSPHRASE', 'ONCEKEY_SIM_POSTGRES_URL', 'ONCEKEY_SIM_REDIS_URL'];

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const { env = {}, timeoutMs = 120_000 } = options;
  const base = { ...process.env };
  for (const name of SHOP_SETTINGS) delete base[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/oncekey.js', ...args], {
      cwd: ROOT,
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`oncekey ${args.join(' ')} took longer than ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
