/**
 * Makes sure `out/` (electron-vite's build: main, preloads, renderer) exists and is newer than the
 * sources, building it when not: `npm start` and `oncekey serve --browser` call this so a fresh
 * checkout just works. Concurrent callers (two test files, two terminals) share one build through a
 * lock directory; build output goes to stderr, never stdout (stdout carries the `admin:` line).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OUT_DIR = join(PROJECT_ROOT, 'out');
export const RENDERER_DIR = join(OUT_DIR, 'renderer');

/** The files a build produces; each must exist and be newer than every source. */
const OUTPUTS = [
  'renderer/index.html',
  'main/index.js',
  'main/live-worker.js',
  'main/reconcile-worker.js',
  'main/ledger-worker.js',
  'preload/preload.cjs',
];
const SOURCES = ['src-renderer', 'src-main', 'shared', 'electron.config.ts', 'package.json'];
const LOCK_STALE_MS = 10 * 60 * 1000;
const LOCK_WAIT_MS = 10 * 60 * 1000;

function newestMtime(path: string): number {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

/** Why a build is needed ('missing' / 'stale'), or null when out/ is up to date. */
export function buildNeeded(root = PROJECT_ROOT): 'missing' | 'stale' | null {
  const outputs = OUTPUTS.map((file) => join(root, 'out', file));
  if (outputs.some((file) => !existsSync(file))) return 'missing';
  const built = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  const source = Math.max(...SOURCES.map((path) => newestMtime(join(root, path))));
  return source > built ? 'stale' : null;
}

function runBuild(root: string, log: (line: string) => void): Promise<void> {
  const cli = join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'build', '-c', 'electron.config.ts', '--logLevel', 'warn'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forward = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') log(line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`the build failed (exit ${code ?? 'signal'}); run npm run build to see why`)),
    );
  });
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** Builds out/ when missing or older than the sources; returns true when it built. */
export async function ensureBuilt(log: (line: string) => void, root = PROJECT_ROOT): Promise<boolean> {
  if (buildNeeded(root) === null) return false;
  mkdirSync(join(root, 'out'), { recursive: true });
  const lock = join(root, 'out', '.build-lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > LOCK_STALE_MS) rmdirSync(lock, { recursive: false });
      else if (Date.now() > deadline) throw new Error(`another build has held ${lock} for too long`);
      else await sleep(250);
    }
  }
  try {
    const why = buildNeeded(root); // someone else may have just built it
    if (why === null) return false;
    log(`building the app (${why === 'missing' ? 'first run' : 'sources changed'})…`);
    await runBuild(root, log);
    return true;
  } finally {
    rmdirSync(lock);
  }
}
