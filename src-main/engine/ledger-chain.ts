/**
 * The hash-chain half of ledger verification, for the older part of a long ledger, in a worker thread:
 * hashing a million entries costs seconds of CPU, and the replay of the states (ledger-verify.ts) can run
 * on the other core meanwhile. Ledger entries never change once written, so the worker's own read-only
 * connection sees the same entries up to `upToSeq` as the caller's snapshot does.
 *
 * The caller waits for it synchronously (Atomics.wait on a shared flag, then receiveMessageOnPort): the
 * verifier stays a plain function, and a caller that could not use the worker (no file, no thread)
 * checks the chain itself. The worker is plain JavaScript (like the writer's checkpoint worker), so it
 * runs the same from the TypeScript sources, the CLI and the Electron bundle.
 */
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { workerDriver } from '../db/open';

export interface ChainProblem {
  readonly seq: number;
  readonly reason: string;
}

export interface ChainResult {
  readonly entries: number;
  readonly problems: readonly ChainProblem[];
}

/**
 * The checks, and the hashed bytes: the previous hash, then JSON of [seq, at, kind, product_id,
 * order_id, key_ids, detail] (ledger.ts `entryHash`; test/ledger.test.ts checks that both agree on
 * every kind of damage).
 */
const CHAIN_WORKER = `
const { workerData } = require('node:worker_threads');
const { hash } = require('node:crypto');
const { driver, nativeBinding, file, upToSeq, maxProblems, flag, port } = workerData;
const out = { entries: 0, problems: [], error: null };
try {
  const Database = require(driver);
  const db = new Database(file, { readonly: true, fileMustExist: true, ...(nativeBinding ? { nativeBinding } : {}) });
  try {
    const rows = db
      .prepare('SELECT seq, at, kind, product_id, order_id, key_ids, detail, lower(hex(prev_hash)), lower(hex(hash)) FROM ledger WHERE seq <= ? ORDER BY seq')
      .raw();
    let previous = '0'.repeat(64);
    let expected = 1;
    for (const [seq, at, kind, product, order, keys, detail, prev, own] of rows.iterate(upToSeq)) {
      out.entries++;
      if (seq !== expected && out.problems.length < maxProblems) out.problems.push({ seq, reason: 'entry ' + expected + ' is missing' });
      expected = seq + 1;
      if (prev !== previous && out.problems.length < maxProblems) out.problems.push({ seq, reason: 'its previous-hash does not match the entry before it' });
      const prevBytes = Buffer.from(prev, 'hex');
      const body = JSON.stringify([seq, at, kind, product, order, keys, detail]);
      const bytes = Buffer.allocUnsafe(prevBytes.length + Buffer.byteLength(body));
      prevBytes.copy(bytes, 0);
      bytes.write(body, prevBytes.length);
      if (hash('sha256', bytes, 'hex') !== own && out.problems.length < maxProblems) out.problems.push({ seq, reason: 'its contents do not match its hash (edited)' });
      previous = own;
    }
  } finally {
    db.close();
  }
} catch (error) {
  out.error = String((error && error.message) || error);
}
port.postMessage(out);
port.close();
Atomics.store(flag, 0, 1);
Atomics.notify(flag, 0);
`;

/** How long a caller waits for the worker before checking the chain itself. */
const WAIT_LIMIT_MS = 10 * 60_000;

export interface ChainWorker {
  /** Blocks until the worker has checked entries 1..upToSeq; null when it failed (check them yourself). */
  wait(): ChainResult | null;
}

/** Starts checking entries 1..upToSeq of the ledger in `file` in a worker thread; null when no thread can start. */
export function startChainWorker(file: string, upToSeq: number, maxProblems: number): ChainWorker | null {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  let worker: Worker;
  try {
    worker = new Worker(CHAIN_WORKER, {
      eval: true,
      workerData: { ...workerDriver(), file, upToSeq, maxProblems, flag, port: port2 },
      transferList: [port2],
    });
  } catch {
    port1.close();
    return null;
  }
  worker.unref();
  return {
    wait(): ChainResult | null {
      Atomics.wait(flag, 0, 0, WAIT_LIMIT_MS);
      const message = receiveMessageOnPort(port1)?.message as (ChainResult & { error: string | null }) | undefined;
      port1.close();
      if (message?.error !== null) {
        void worker.terminate();
        return null;
      }
      return { entries: message.entries, problems: message.problems };
    },
  };
}
