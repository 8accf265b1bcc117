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

/** The first message `thread` posts; rejects on its error, or when it exits without one (`what` names it). */
export function firstMessage<T>(thread: Worker, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    thread.once('message', (message: T) => {
      settled = true;
      resolve(message);
    });
    thread.once('error', (error) => {
      settled = true;
      reject(error);
    });
    thread.once('exit', (code) => {
      if (!settled) reject(new Error(`the ${what} thread stopped (exit code ${code}) before it answered`));
    });
  });
}
