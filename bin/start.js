#!/usr/bin/env node
// `npm start [-- --data <dir> --port <n> --admin-token <t>]`: the desktop app where Electron can run,
// browser mode (`oncekey serve --browser`) where it cannot, said in one line. Nothing here downloads
// Electron: its binary is looked for on disk only (requiring the `electron` package would download it).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    data: { type: 'string' },
    port: { type: 'string' },
    'admin-token': { type: 'string' },
    browser: { type: 'boolean', default: false },
  },
  strict: true,
});

/** The user's app-data folder, the same one Electron's `userData` resolves to for "OnceKey". */
function defaultDataDir() {
  if (process.platform === 'win32') return join(process.env.APPDATA || join(homedir(), 'AppData', 'Roaming'), 'OnceKey');
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'OnceKey');
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'OnceKey');
}

/** The Electron executable if it is installed, else the reason it cannot be used. */
function findElectron() {
  const dir = join(ROOT, 'node_modules', 'electron');
  if (!existsSync(join(dir, 'package.json'))) return { reason: 'the electron package is not installed' };
  const pathFile = join(dir, 'path.txt');
  const relative = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : '';
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const executable = override ? join(override, relative || 'electron') : relative ? join(dir, 'dist', relative) : '';
  if (!executable || !existsSync(executable)) return { reason: 'its binary is not installed' };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)
    return { reason: 'there is no display' };
  // Time-boxed: a broken binary must not hang the start.
  const probe = spawnSync(executable, ['--version'], {
    timeout: 10_000,
    encoding: 'utf8',
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
  });
  if (probe.status !== 0) return { reason: `its binary does not run (${probe.error?.message ?? `exit ${probe.status}`})` };
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  return { executable, version };
}

/**
 * better-sqlite3 built for Electron's ABI, in .electron-native/ (node_modules keeps the Node build for
 * the CLI and the tests): a prebuilt binary if one can be fetched, else compiled from the package's
 * sources. Returns the .node file, or null with the reason printed.
 */
function prepareElectronSqlite(version) {
  const target = join(ROOT, '.electron-native', `${version}-${process.platform}-${process.arch}`);
  const file = join(target, 'better_sqlite3.node');
  if (existsSync(file)) return file;
  console.error(`preparing better-sqlite3 for Electron ${version} (once)…`);
  const work = join(ROOT, '.electron-native', 'work');
  rmSync(work, { recursive: true, force: true });
  cpSync(join(ROOT, 'node_modules', 'better-sqlite3'), work, {
    recursive: true,
    filter: (src) => !src.includes(`${join('better-sqlite3', 'build')}`),
  });
  const bin = (name) => join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? `${name}.cmd` : name);
  const run = (command, args, timeout) =>
    spawnSync(command, args, { cwd: work, stdio: ['ignore', 'inherit', 'inherit'], timeout, shell: process.platform === 'win32' })
      .status === 0;
  const built =
    run(bin('prebuild-install'), ['--runtime', 'electron', '--target', version, '--arch', process.arch], 120_000) ||
    run(
      bin('node-gyp'),
      [
        'rebuild',
        '--release',
        `--target=${version}`,
        `--arch=${process.arch}`,
        '--runtime=electron',
        '--dist-url=https://electronjs.org/headers',
      ],
      15 * 60_000,
    );
  const output = join(work, 'build', 'Release', 'better_sqlite3.node');
  if (!built || !existsSync(output)) {
    console.error('could not build better-sqlite3 for Electron (no prebuilt binary and no compiler toolchain)');
    return null;
  }
  mkdirSync(target, { recursive: true });
  cpSync(output, file);
  rmSync(work, { recursive: true, force: true });
  return file;
}

const dataDir = resolve(values.data ?? defaultDataDir());
mkdirSync(dataDir, { recursive: true, mode: 0o700 });
// Without --port the shop listens on the port saved in Settings (else 8787), or a free one when that is taken.
const common = [
  '--data',
  dataDir,
  ...(values.port ? ['--port', values.port] : []),
  ...(values['admin-token'] ? ['--admin-token', values['admin-token']] : []),
];

const { register } = await import('tsx/esm/api');
register();

// The desktop window runs the shop in its SQLite file; a shop on PostgreSQL opens in browser mode.
const electron = values.browser
  ? { reason: '--browser was given' }
  : process.env.ONCEKEY_DATABASE_URL
    ? { reason: 'postgres' }
    : findElectron();
let binding = null;
if (electron.executable) {
  binding = prepareElectronSqlite(electron.version);
  if (binding === null) electron.reason = 'better-sqlite3 could not be built for it';
}

if (electron.executable && binding) {
  const { ensureBuilt } = await import('../src-main/app/build.ts');
  await ensureBuilt((line) => console.error(line));
  const child = spawn(electron.executable, [ROOT, ...common], {
    stdio: 'inherit',
    env: { ...process.env, ONCEKEY_SQLITE_BINDING: binding, ELECTRON_RUN_AS_NODE: undefined },
    cwd: ROOT,
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  const why =
    electron.reason === '--browser was given'
      ? 'browser mode was asked for'
      : electron.reason === 'postgres'
        ? 'the shop is on PostgreSQL (ONCEKEY_DATABASE_URL); the desktop window runs a SQLite shop'
        : `Electron is not available here (${electron.reason})`;
  console.error(`${why}; starting in browser mode`);
  const { main } = await import('../src-main/cli/main.ts');
  process.exitCode = await main(['serve', '--browser', ...common]);
}
