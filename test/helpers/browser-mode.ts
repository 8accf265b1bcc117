/**
 * Starts OnceKey in browser mode as a user would (`node bin/start.js --data <tmp> --port 0`, which
 * falls back to browser mode where Electron cannot run) and hands back its one-time admin link. The
 * build (out/) is made first when missing or stale; waits are bounded. End-to-end tests of every
 * page start their shop here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './http';

export interface BrowserModeShop {
  /** `http://127.0.0.1:<port>/admin/?token=…` (works once). */
  readonly adminUrl: string;
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  readonly dataDir: string;
  /** The admin bearer token (for setting up data over the admin API). */
  readonly adminToken: string;
  readonly child: ChildProcess;
  /** What the process wrote so far. */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, wait for the exit (bounded), remove the data folder; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface BrowserModeOptions {
  /** Default: a new temporary folder, removed by stop(). */
  readonly dataDir?: string;
  readonly adminToken?: string;
  /** Bound for the start, build included. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export async function startBrowserMode(options: BrowserModeOptions = {}): Promise<BrowserModeShop> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'oncekey-browser-'));
  const adminToken = options.adminToken ?? `e2e-admin-${process.pid}-${Date.now()}`;
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  // Never let the test try the desktop app, even on a machine that has Electron and a display.
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  const child = spawn(process.execPath, ['bin/start.js', '--data', dataDir, '--port', '0', '--admin-token', adminToken], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));

  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done((exitCode = code))));
  const cleanup = () => {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  const stop = async (): Promise<number | null> => {
    if (exitCode === undefined) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(timer);
    cleanup();
    return code;
  };

  const timeoutMs = options.timeoutMs ?? 180_000;
  const adminUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`browser mode did not print its admin link within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`)),
      timeoutMs,
    );
    const check = (): void => {
      const match = /^admin: (http:\/\/\S+)$/m.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`browser mode exited (${code}) before printing its admin link\nstdout: ${out}\nstderr: ${err}`));
    });
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  return {
    adminUrl,
    baseUrl: new URL(adminUrl).origin,
    dataDir,
    adminToken,
    child,
    stdout: () => out,
    stderr: () => err,
    stop,
  };
}
