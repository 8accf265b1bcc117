/**
 * A throw-away Redis server for tests that need the real thing (never a mock): `startRedis()` starts
 * `redis-server` from PATH (Debian's `redis-server` package) on a free port bound to 127.0.0.1, with
 * no persistence (`--save ''`, `--appendonly no`) and a fresh temporary working folder, waits until
 * it answers PING and hands back its `redis://` URL; `stop()` shuts it down and removes the folder.
 *
 * Where redis-server is not installed the tests that need it skip, and say why: `startRedis()` then
 * resolves `{ skipped: reason }`, and `redisSkipReason()` gives the same reason synchronously for
 * `describe.skipIf`. CI installs the package (.ci/run), so there they always run.
 */
import { rmSync } from 'node:fs';
import { createClient } from 'redis';
import { findOnPath, freePort, makeServerDir, ServerExitedError, startServerProcess, waitUntil } from './server-process';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The temporary working folder, removed by stop(). */
  readonly dir: string;
  readonly pid: number;
  /** SIGTERM (Redis exits without saving), SIGKILL if that hangs, then removes the folder. Safe to call twice. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const PORT_ATTEMPTS = 5;

/** Why the Redis tests cannot run here, or undefined when redis-server is on PATH. */
export function redisSkipReason(): string | undefined {
  return findOnPath('redis-server')
    ? undefined
    : 'redis-server is not installed (not on PATH); install it (Debian: apt-get install redis-server) to run the Redis tests';
}

export async function startRedis(): Promise<RedisServer | { skipped: string }> {
  const skipped = redisSkipReason();
  const binary = findOnPath('redis-server');
  if (skipped !== undefined || binary === undefined) return { skipped: skipped ?? 'redis-server is not installed' };

  const dir = makeServerDir('oncekey-redis-');
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = startServerProcess(
        binary,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--protected-mode',
          'yes',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--daemonize',
          'no',
          '--logfile',
          '',
        ],
        { deathSignal: 'SIGTERM', cwd: dir },
      );
      const url = `redis://127.0.0.1:${port}`;
      try {
        await waitUntil(server, () => answersPing(url), 'redis-server', START_TIMEOUT_MS);
      } catch (error) {
        await server.stop('SIGTERM', 5_000).catch(() => undefined);
        if (error instanceof ServerExitedError && error.portTaken && attempt < PORT_ATTEMPTS) continue;
        throw error;
      }
      const stop = async (): Promise<void> => {
        await server.stop('SIGTERM', 10_000);
        rmSync(dir, { recursive: true, force: true });
      };
      return { url, dir, pid: server.pid, stop };
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function answersPing(url: string): Promise<boolean> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  // node-redis throws an 'error' event nobody listens to; while starting, refusals are expected.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    if (client.isOpen) client.destroy();
  }
}
