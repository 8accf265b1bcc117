/**
 * Starts a worker thread on one of our own TypeScript modules. From the sources (tests, the CLI through
 * tsx) the thread registers tsx before importing the `.ts` file; in the Electron bundle the module is a
 * `.js` entry of its own next to the main bundle (electron.config.ts lists them).
 *
 * `entry` is the module's URL as its caller computes it:
 * `new URL(import.meta.url.endsWith('.ts') ? './x-worker.ts' : './x-worker.js', import.meta.url)`.
 *
 * A missing entry (a bundle built without it) throws here: a Worker reports it only later, as an event,
 * which a caller that waits synchronously for its result (engine/ledger-worker.ts) would never see.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Transferable, Worker } from 'node:worker_threads';

export function startModuleWorker(entry: URL, workerData: unknown, transferList: readonly Transferable[] = []): Worker {
  if (entry.protocol === 'file:' && !existsSync(fileURLToPath(entry)))
    throw new Error(`worker module ${fileURLToPath(entry)} is missing`);
  if (entry.pathname.endsWith('.ts')) {
    const tsx = import.meta.resolve('tsx/esm/api');
    const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
    return new Worker(code, { eval: true, workerData, transferList: [...transferList] });
  }
  return new Worker(entry, { workerData, transferList: [...transferList] });
}
