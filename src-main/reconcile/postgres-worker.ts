/**
 * A PostgreSQL shop's reconciliation in a worker thread (postgres.ts decides when): the snapshot's
 * SQLite writes, its index builds and the detectors take seconds of CPU on a big shop, and the thread
 * that serves the shop endpoint keeps answering meanwhile. The thread opens a connection of its own
 * (a pool cannot cross threads) and closes it before it answers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openPool } from '../pg/connect';
import { postgresFailure, reconcilePostgres, type PostgresWorkerInput, type PostgresWorkerMessage } from './postgres';

async function run(input: PostgresWorkerInput): Promise<PostgresWorkerMessage> {
  const pool = openPool(input.url, 1);
  try {
    return { ok: true, result: await reconcilePostgres(pool, input.options) };
  } catch (error) {
    return { ok: false, ...postgresFailure(error) };
  } finally {
    await pool.end().catch(() => undefined);
  }
}

const input = workerData as Partial<PostgresWorkerInput> | null;
if (parentPort && input?.postgresReconcileWorker === true) {
  const port = parentPort;
  void run(input as PostgresWorkerInput).then((message) => port.postMessage(message));
}
