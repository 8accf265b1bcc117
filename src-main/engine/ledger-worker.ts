/**
 * The ledger worker: with its own read-only connection it checks the hash chain up to one entry and
 * replays the ledger up to the caller's last entry into arrays it shares with the caller, while the
 * caller checks the rest of the chain and reads the keys and orders as they are now in its own snapshot
 * (ledger-verify.ts). The ledger is append-only, so its entries up to a number read the same from both
 * connections.
 *
 * The caller waits for it synchronously (Atomics.wait on a shared flag, then receiveMessageOnPort), so
 * the verifier stays a plain function that runs inside a read transaction.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { openReadOnly } from '../db/open';
import { startModuleWorker } from '../lib/module-worker';
import { type ChainResult, checkChain, GENESIS_HEX } from './ledger-chain';
import { replayLedger, type ReplayResult, type ReplayState } from './ledger-replay';

export interface LedgerWorkerInput {
  readonly ledgerWorker: true;
  readonly file: string;
  /** Check the chain from the first entry up to this one. */
  readonly chainUpTo: number;
  /** Replay entries up to this one into `state`. */
  readonly replayUpTo: number;
  readonly state: ReplayState;
  readonly flag: Int32Array;
  readonly port: MessagePort;
}

type LedgerWorkerOutput =
  { readonly chain: ChainResult; readonly replay: ReplayResult; readonly error: null } | { readonly error: string };

export interface LedgerWorker {
  /** Blocks until the worker is done; null when it failed (the caller then does its work itself). */
  wait(): { readonly chain: ChainResult; readonly replay: ReplayResult } | null;
  /** Stops the worker when its result is no longer wanted. */
  cancel(): void;
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './ledger-worker.ts' : './ledger-worker.js', import.meta.url);

/** How long a caller waits for the worker before doing its work itself. */
const WAIT_LIMIT_MS = 10 * 60_000;

/** Starts the worker on the ledger in `file`; null when no thread can start. */
export function startLedgerWorker(file: string, chainUpTo: number, replayUpTo: number, state: ReplayState): LedgerWorker | null {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  const input: LedgerWorkerInput = { ledgerWorker: true, file, chainUpTo, replayUpTo, state, flag, port: port2 };
  let worker: ReturnType<typeof startModuleWorker>;
  try {
    worker = startModuleWorker(WORKER_URL, input, [port2]);
  } catch {
    port1.close();
    return null;
  }
  worker.unref();
  return {
    wait() {
      Atomics.wait(flag, 0, 0, WAIT_LIMIT_MS);
      const message = receiveMessageOnPort(port1)?.message as LedgerWorkerOutput | undefined;
      port1.close();
      if (message?.error !== null) {
        void worker.terminate();
        return null;
      }
      return { chain: message.chain, replay: message.replay };
    },
    cancel() {
      port1.close();
      void worker.terminate();
    },
  };
}

function run(input: LedgerWorkerInput): LedgerWorkerOutput {
  try {
    const db = openReadOnly(input.file);
    try {
      const chain = checkChain(db, { seq: 0, hash: GENESIS_HEX }, input.chainUpTo);
      const replay = replayLedger(db, input.state, input.replayUpTo);
      return { chain, replay, error: null };
    } finally {
      db.close();
    }
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

const data = workerData as LedgerWorkerInput | null;
if (data?.ledgerWorker === true) {
  data.port.postMessage(run(data));
  data.port.close();
  Atomics.store(data.flag, 0, 1);
  Atomics.notify(data.flag, 0);
}
