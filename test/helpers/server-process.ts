/**
 * The process plumbing shared by the throw-away test servers (test/helpers/postgres.ts and redis.ts):
 * a free port on 127.0.0.1, a server process that cannot outlive the test worker that started it, and
 * a bounded stop.
 *
 * Outliving is the risk: PostgreSQL and Redis do not notice their parent dying. So where util-linux's
 * `setpriv` exists (every Debian) a server starts as `setpriv --pdeathsig <signal> -- <server> …`, and
 * the kernel sends it the signal when the worker that spawned it exits for any reason, SIGKILL and a
 * hook timeout included; `setpriv` also drops root for PostgreSQL (`runAs`). A process 'exit' hook
 * signals whatever is still running where setpriv is missing. A worker killed outright cannot remove
 * its server's temporary folder, so each folder names its owner's pid, and the next start removes the
 * folders of owners that are gone.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The first executable called `name` on PATH. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const OWNER_FILE = 'owner.pid';
const OUTPUT_LIMIT = 16 * 1024;

/**
 * A fresh folder `<tmp>/<prefix>XXXXXX` for one server, recording this process as its owner. Folders
 * with the same prefix whose owner died without cleaning up are removed first.
 */
export function makeServerDir(prefix: string): string {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(prefix)) continue;
    const dir = join(tmpdir(), name);
    let owner: number;
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8'));
    } catch {
      continue; // not ours, or being made right now
    }
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) rmSync(dir, { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, OWNER_FILE), String(process.pid));
  return dir;
}

/** True while a process with this id exists (EPERM: it does, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const SETPRIV = process.platform === 'linux' ? findOnPath('setpriv') : undefined;

/** A port on 127.0.0.1 that was free a moment ago (the caller retries if someone takes it meanwhile). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** An unprivileged account to run a server as (PostgreSQL refuses root). */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** The argv that runs `command` as `runAs` (when given) and dies with this process where it can. */
export function wrapCommand(
  command: string,
  args: readonly string[],
  options: { runAs?: RunAs; deathSignal?: NodeJS.Signals } = {},
): { file: string; args: string[] } {
  const { runAs, deathSignal } = options;
  if (!SETPRIV) {
    if (runAs) throw new Error(`running ${command} as uid ${runAs.uid} needs setpriv (util-linux), which is not on PATH`);
    return { file: command, args: [...args] };
  }
  const prefix = deathSignal ? ['--pdeathsig', deathSignal] : [];
  if (runAs) prefix.push('--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--clear-groups');
  return { file: SETPRIV, args: [...prefix, '--', command, ...args] };
}

/** Runs a short command (as `runAs` when given) to completion: its exit status and output. */
export function runToEnd(
  command: string,
  args: readonly string[],
  options: { runAs?: RunAs; timeoutMs?: number } = {},
): { ok: boolean; output: string } {
  const wrapped = wrapCommand(command, args, options.runAs ? { runAs: options.runAs } : {});
  const result = spawnSync(wrapped.file, wrapped.args, { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  return { ok: result.status === 0, output };
}

/** Runs a command (as `runAs` when given) to completion without blocking the event loop; dies with this process. */
export function runAsync(
  command: string,
  args: readonly string[],
  options: { runAs?: RunAs; timeoutMs?: number } = {},
): Promise<{ ok: boolean; output: string }> {
  const wrapped = wrapCommand(command, args, { ...(options.runAs ? { runAs: options.runAs } : {}), deathSignal: 'SIGKILL' });
  return new Promise((resolve) => {
    const child = spawn(wrapped.file, wrapped.args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000 });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', (error) => resolve({ ok: false, output: `${output}${String(error)}` }));
    child.once('close', (code, signal) =>
      resolve({ ok: code === 0, output: signal ? `${output}\n(killed by ${signal})` : output }),
    );
  });
}

export interface ServerProcess {
  readonly pid: number;
  /** The last 16 KB the server wrote (stdout and stderr), for error messages. */
  output(): string;
  exited(): boolean;
  /** Resolves when the process has exited. */
  readonly exit: Promise<void>;
  /** `signal`, then SIGKILL after `graceMs`; resolves once the process is gone (bounded). */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

const running = new Map<ChildProcess, NodeJS.Signals>();
process.on('exit', () => {
  for (const [child, signal] of running) child.kill(signal);
});

/**
 * Starts a server. It does not keep the test worker alive (unref'd), so a worker that forgot to stop
 * it still exits, and `deathSignal` then reaches the server.
 */
export function startServerProcess(
  command: string,
  args: readonly string[],
  options: { runAs?: RunAs; deathSignal: NodeJS.Signals; cwd?: string },
): ServerProcess {
  const wrapped = wrapCommand(command, args, options);
  const child = spawn(wrapped.file, wrapped.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  running.set(child, options.deathSignal);
  let output = '';
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let hasExited = false;
  const exit = new Promise<void>((resolve) => {
    const done = (): void => {
      hasExited = true;
      running.delete(child);
      resolve();
    };
    child.once('exit', done);
    child.once('error', (error) => {
      collect(Buffer.from(`\n${String(error)}`));
      done();
    });
  });
  child.unref();
  for (const stream of [child.stdout, child.stderr]) if (stream instanceof Socket) stream.unref();

  return {
    pid: child.pid ?? -1,
    output: () => output,
    exited: () => hasExited,
    exit,
    async stop(signal, graceMs) {
      if (hasExited) return;
      child.kill(signal);
      if (await settlesWithin(exit, graceMs)) return;
      child.kill('SIGKILL');
      if (!(await settlesWithin(exit, 10_000))) throw new Error(`${command} (pid ${child.pid}) did not exit after SIGKILL`);
    },
  };
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `attempt` until it resolves true, the server exits, or `timeoutMs` passes. */
export async function waitUntil(
  server: ServerProcess,
  attempt: () => Promise<boolean>,
  what: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exited()) throw new ServerExitedError(`${what} exited while starting`, server.output());
    if (await attempt()) return;
    if (Date.now() > deadline) throw new Error(`${what} did not answer within ${timeoutMs / 1000} s:\n${server.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export class ServerExitedError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(`${message}:\n${output}`);
    this.name = 'ServerExitedError';
  }

  /** The server could not listen on its port (taken between freePort() and the bind): try another. */
  get portTaken(): boolean {
    return /address already in use|could not bind|could not create any TCP\/IP sockets/i.test(this.output);
  }
}
