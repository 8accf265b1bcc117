/**
 * The built desktop main process (out/main/index.js), run under plain Node with a stand-in for the
 * `electron` module (test/helpers/electron-stub/): Electron's binary is not needed. It checks what
 * main.ts asks of Electron (sandbox, context isolation, no Node in the page, permissions refused,
 * navigation and new windows blocked), that the IPC handler serves our page and refuses a foreign
 * frame, where the vault's key goes (keychain, or a passphrase on Linux's basic_text fallback), and
 * that SIGTERM quits cleanly with exit code 0.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import type { ReconcileReport } from '../shared/reconcile';
import { ensureBuilt } from '../src-main/app/build';
import { Engine } from '../src-main/engine/engine';
import { ROOT } from './helpers/http';

interface Observation {
  readonly what: string;
  readonly [key: string]: unknown;
}

interface Run {
  readonly observations: Observation[];
  readonly stderr: () => string;
  /** Resolves with the exit code after SIGTERM (bounded). */
  stop(): Promise<number | null>;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  await ensureBuilt(() => undefined);
}, 300_000);

async function runMain(env: NodeJS.ProcessEnv = {}): Promise<{ run: Run; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'oncekey-main-'));
  const appData = mkdtempSync(join(tmpdir(), 'oncekey-appdata-'));
  dirs.push(dataDir, appData);
  const child = spawn(
    process.execPath,
    ['--import', './test/helpers/electron-stub/register.js', 'out/main/index.js', '--data', dataDir, '--port', '0'],
    {
      cwd: ROOT,
      env: { ...process.env, STUB_APP_DATA: appData, ONCEKEY_PASSPHRASE: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const observations: Observation[] = [];
  let stderr = '';
  let buffer = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the main process did not get ready\n${stderr}`)), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let end;
      while ((end = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (!line.startsWith('stub:')) continue;
        const observation = JSON.parse(line.slice(5)) as Observation;
        observations.push(observation);
        if (observation.what === 'ready' || observation.what === 'exit') {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  const stop = async (): Promise<number | null> => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return { run: { observations, stderr: () => stderr, stop }, dataDir };
}

const find = (run: Run, what: string): Observation[] => run.observations.filter((o) => o.what === what);

describe('the desktop main process (with a stand-in for Electron)', () => {
  it('opens a locked-down window whose IPC serves our page only, and quits cleanly on SIGTERM', async () => {
    const { run, dataDir } = await runMain();
    expect(find(run, 'errorBox')).toEqual([]);
    expect(find(run, 'enableSandbox')).toHaveLength(1);
    expect(find(run, 'permissions')).toEqual([{ what: 'permissions', granted: false }]);

    const [window] = find(run, 'window');
    const prefs = window?.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true });
    expect(existsSync(prefs.preload as string)).toBe(true);
    expect(String(prefs.preload)).toMatch(/preload\.cjs$/);
    const [load] = find(run, 'loadFile');
    expect(existsSync(load?.file as string)).toBe(true);

    const replies = find(run, 'reply').map((o) => o.reply as { ok: boolean; value?: unknown; error?: { code: string } });
    expect(replies[0]).toMatchObject({ ok: true, value: { product: { name: 'Stub product' } } });
    expect(replies[1]).toMatchObject({ ok: true, value: { products: [{ name: 'Stub product' }] } });
    expect(replies[2]).toEqual({ ok: false, error: { code: 'unauthorized', message: 'this frame may not call the admin API' } });
    // stderr is its own pipe: its line may arrive after the stdout line that said the process is ready.
    await expect.poll(() => run.stderr(), { timeout: 10_000 }).toContain('refused IPC oncekey:call from https://example.com/');
    expect(find(run, 'navigation')).toEqual([{ what: 'navigation', blocked: true, windowOpen: { action: 'deny' } }]);

    // The vault's key is kept with safeStorage, not in a plain key file.
    expect(existsSync(join(dataDir, 'vault.key.safe'))).toBe(true);
    expect(existsSync(join(dataDir, 'vault.key'))).toBe(false);

    expect(await run.stop()).toBe(0);
    expect(find(run, 'exit')).toEqual([{ what: 'exit', code: 0 }]);
  });

  it.runIf(process.platform === 'linux')("uses a passphrase instead of Linux's basic_text store", async () => {
    const { run, dataDir } = await runMain({ STUB_BACKEND: 'basic_text', ONCEKEY_PASSPHRASE: 'correct horse battery' });
    expect(find(run, 'errorBox')).toEqual([]);
    expect(find(run, 'reply')[0]).toMatchObject({ reply: { ok: true } });
    expect(existsSync(join(dataDir, 'vault.key.safe'))).toBe(false);
    expect(existsSync(join(dataDir, 'vault.key'))).toBe(false);
    expect(await run.stop()).toBe(0);
  });

  it("answers a reconciliation from the bundle's worker thread entry (out/main/reconcile-worker.js)", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'oncekey-worker-'));
    dirs.push(dataDir);
    const engine = Engine.open({ dataDir });
    try {
      await engine.createProduct({ name: 'Card', price: { amount: 100, currency: 'CNY' } });
      engine.db.prepare('UPDATE products SET available = 3').run();
      const worker = new Worker(join(ROOT, 'out/main/reconcile-worker.js'), {
        workerData: { reconcileWorker: true, file: engine.db.name, options: { now: Date.UTC(2026, 0, 1) } },
      });
      const message = await new Promise<{ ok: boolean; report?: ReconcileReport; message?: string }>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(message.message).toBeUndefined();
      expect(message.report?.findings.map((f) => f.kind)).toEqual(['stock_drift']);
    } finally {
      await engine.close();
    }
  });
});
