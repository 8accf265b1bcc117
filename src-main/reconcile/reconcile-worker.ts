/**
 * A reconciliation in a worker thread with its own read-only connection: a big shop's run takes seconds
 * of CPU, and the thread that serves the shop endpoint and the admin pages keeps answering meanwhile
 * (WAL: this reader never blocks the writer). service.ts decides when to use it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ReconcileReport } from '../../shared/reconcile';
import { openReadOnly } from '../db/open';
import { reconcile, type ReconcileOptions } from './run';

export interface ReconcileWorkerInput {
  readonly reconcileWorker: true;
  readonly file: string;
  readonly options: ReconcileOptions;
}

export type ReconcileWorkerMessage =
  { readonly ok: true; readonly report: ReconcileReport } | { readonly ok: false; readonly message: string };

function run(input: ReconcileWorkerInput): ReconcileWorkerMessage {
  try {
    const db = openReadOnly(input.file);
    try {
      return { ok: true, report: reconcile(db, input.options) };
    } finally {
      db.close();
    }
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

if (parentPort && (workerData as { reconcileWorker?: boolean } | null)?.reconcileWorker === true) {
  parentPort.postMessage(run(workerData as ReconcileWorkerInput));
}
