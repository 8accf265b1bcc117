/**
 * Ledger verification: walk the hash chain (ledger-chain.ts), replay every entry as a state machine over
 * keys and orders (ledger-replay.ts), then compare the replayed state with the rows as they are now. The
 * first entry that does not fit (a broken hash, an impossible transition, or a key or order whose
 * current state disagrees with the last entry that moved it) is named.
 *
 * A long ledger's replay and the older part of its chain go to the ledger worker (ledger-worker.ts);
 * meanwhile this thread checks the newer part of the chain and reads the keys and orders in the
 * caller's snapshot (SQLite hands them over as one string of small numbers per batch, like the
 * replay's), then compares once the worker is done. Text is fetched only for the few rows a message
 * names.
 */
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { type ChainResult, checkChain, GENESIS_HEX, LEDGER_BATCH, MAX_PROBLEMS } from './ledger-chain';
import {
  codeOf,
  Cursor,
  KEY_NAMES,
  ORDER_NAMES,
  replayLedger,
  type ReplayResult,
  type ReplayState,
  replayState,
} from './ledger-replay';
import { startLedgerWorker, type LedgerWorker } from './ledger-worker';

export interface VerifyProblem {
  readonly seq: number | null;
  readonly reason: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly entries: number;
  readonly firstBadEntry?: number;
  readonly problems: readonly VerifyProblem[];
}

export interface VerifyOptions {
  /**
   * Replay the ledger and hash the older part of its chain in a worker thread while this thread does
   * the rest: 'auto' (the default) for a file-backed ledger of at least PARALLEL_MIN_ENTRIES entries.
   */
  readonly parallel?: 'auto' | 'always' | 'never';
  /** The worker's share of the chain (0..1); a caller with other work to do meanwhile gives it all. */
  readonly workerShare?: number;
}

/** A verification under way: the worker works while the caller does other reads in the same snapshot. */
export interface LedgerVerification {
  finish(): VerifyReport;
  /** Abandons it (the caller failed before `finish`): the worker stops. */
  cancel(): void;
}

/** Per key: id, status code, its order's row number (0: none; -1: not in the orders table). */
const KEYS_SQL = `SELECT group_concat(line, ';' ORDER BY id), max(id), count(*) FROM (
  SELECT k.id AS id, k.id || ',' || ${codeOf('k.status', KEY_NAMES)} || ','
    || CASE WHEN k.order_id IS NULL THEN 0 WHEN o.rowid IS NULL THEN -1 ELSE o.rowid END AS line
  FROM keys k LEFT JOIN orders o ON o.id = k.order_id WHERE k.id > ? AND k.status <> 'staged' ORDER BY k.id LIMIT ?)`;
/** Per order: row number, status code. */
const ORDERS_SQL = `SELECT group_concat(line, ';' ORDER BY r), max(r), count(*) FROM (
  SELECT rowid AS r, rowid || ',' || ${codeOf('status', ORDER_NAMES)} AS line FROM orders WHERE rowid > ? ORDER BY rowid LIMIT ?)`;

/** Below this many entries a worker costs more than it saves. */
const PARALLEL_MIN_ENTRIES = 50_000;
/** The worker's share of the chain by default: it also replays every entry, so this thread hashes the rest. */
const WORKER_SHARE = 0.4;

/** Every batch of `sql` (params: after, limit), as text: read before waiting for the worker so the reading overlaps its work (about 25 MB for a million keys and orders). */
function readBatches(db: ReadableDB, sql: string): string[] {
  const batch = stmt(db, sql).raw();
  const texts: string[] = [];
  let after = 0;
  for (;;) {
    const [text, last, count] = batch.get(after, LEDGER_BATCH) as [string | null, number | null, number];
    if (count === 0 || text === null || last === null) return texts;
    texts.push(text);
    after = last;
  }
}

/** Verifies in one read transaction, so a sale committing meanwhile cannot look like a mismatch. */
export function verifyLedger(db: ReadableDB, options: VerifyOptions = {}): VerifyReport {
  return db.transaction(() => startLedgerVerify(db, options).finish())();
}

/** Starts a verification inside the caller's read transaction; `finish` (in the same transaction) completes it. */
export function startLedgerVerify(db: ReadableDB, options: VerifyOptions = {}): LedgerVerification {
  const parallel = options.parallel ?? 'auto';
  const last = stmt(db, 'SELECT coalesce(max(seq), 0) FROM ledger').pluck().get() as number;
  const maxKey = (stmt(db, 'SELECT coalesce(max(id), 0) FROM keys').pluck().get() as number) + 1;
  const maxOrder = (stmt(db, 'SELECT coalesce(max(rowid), 0) FROM orders').pluck().get() as number) + 1;
  const split =
    parallel === 'never'
      ? null
      : chainSplit(db, last, parallel === 'always' ? 1 : PARALLEL_MIN_ENTRIES, options.workerShare ?? WORKER_SHARE);
  const state = replayState(maxKey, maxOrder, split !== null);
  const worker = split === null ? null : startLedgerWorker(db.name, split.seq, last, state);
  return {
    finish: () => finishVerify(db, last, state, worker === null ? null : split, worker),
    cancel: () => worker?.cancel(),
  };
}

function finishVerify(
  db: ReadableDB,
  last: number,
  state: ReplayState,
  split: { seq: number; hash: string } | null,
  worker: LedgerWorker | null,
): VerifyReport {
  // This thread's share: the newer part of the chain, and the rows as they are now.
  const from = split ?? { seq: 0, hash: GENESIS_HEX };
  const newer = checkChain(db, from, last);
  const keyBatches = readBatches(db, KEYS_SQL);
  const orderBatches = readBatches(db, ORDERS_SQL);

  let older: ChainResult | null = null;
  let replay: ReplayResult | null = null;
  if (worker !== null) {
    const done = worker.wait();
    if (done !== null) ({ chain: older, replay } = done);
  }
  if (replay === null) {
    // No worker, or it failed (then its arrays may be half-written).
    for (const array of [state.keyState, state.keyOrder, state.keySeq, state.orderState, state.orderSeq]) array.fill(0);
    replay = replayLedger(db, state, last);
  }
  if (older === null && from.seq > 0) older = checkChain(db, { seq: 0, hash: GENESIS_HEX }, from.seq);

  const { keyState, keyOrder, keySeq, orderState, orderSeq } = state;
  const maxKey = keyState.length;
  const ghosts = new Map(replay.ghosts);
  const problems: VerifyProblem[] = [...replay.problems];
  // An entry that is itself bad (broken chain, edited, impossible move) outranks a row that merely
  // disagrees with the last entry that moved it: that entry is usually intact, the damage came after it.
  let firstBadEntry = replay.firstBad ?? Infinity;
  let firstMismatch = Infinity;
  const fail = (seq: number | null, reason: string | (() => string), mismatch = false): void => {
    if (seq !== null && mismatch) firstMismatch = Math.min(firstMismatch, seq);
    else if (seq !== null) firstBadEntry = Math.min(firstBadEntry, seq);
    if (problems.length < MAX_PROBLEMS) problems.push({ seq, reason: typeof reason === 'string' ? reason : reason() });
  };
  const chainProblems: VerifyProblem[] = [];
  for (const problem of [...(older?.problems ?? []), ...newer.problems]) {
    firstBadEntry = Math.min(firstBadEntry, problem.seq);
    if (chainProblems.length < MAX_PROBLEMS) chainProblems.push(problem);
  }
  const orderName = (ref: number): string => {
    if (ref === 0) return 'none';
    if (ref < 0) return [...ghosts].find(([, r]) => r === ref)?.[0] ?? 'none';
    return (stmt(db, 'SELECT id FROM orders WHERE rowid = ?').pluck().get(ref) as string | undefined) ?? 'none';
  };

  // Compare the replay with the rows as they are now.
  const seenKey = new Uint8Array(maxKey);
  for (const text of keyBatches) {
    for (const c = new Cursor(text); !c.done;) {
      const id = c.int();
      const status = c.int();
      let orderRef = c.int();
      seenKey[id] = 1;
      const replayed = keyState[id]!;
      const seq = keySeq[id] || null;
      if (replayed === 0) {
        fail(null, `key ${id} is ${KEY_NAMES[status] ?? 'unknown'} but no ledger entry ever imported it`);
        continue;
      }
      if (replayed !== status) {
        fail(seq, `key ${id} is ${KEY_NAMES[status] ?? 'unknown'} now, but the ledger left it ${KEY_NAMES[replayed]}`, true);
        continue;
      }
      if (status === 2 || status === 3) {
        const keyOrderId = (): string | null =>
          stmt(db, 'SELECT order_id FROM keys WHERE id = ?').pluck().get(id) as string | null;
        if (orderRef === -1) orderRef = ghosts.get(keyOrderId() ?? '') ?? Number.NaN;
        if (orderRef !== keyOrder[id]) {
          fail(
            seq,
            () =>
              `key ${id} belongs to order ${keyOrderId() ?? 'none'} now, but the ledger gave it to ${orderName(keyOrder[id]!)}`,
            true,
          );
        }
      }
    }
  }
  for (let id = 1; id < maxKey; id++) {
    if (keyState[id] !== 0 && seenKey[id] === 0)
      fail(keySeq[id] || null, `key ${id} is in the ledger but not in the vault`, true);
  }
  for (const text of orderBatches) {
    for (const c = new Cursor(text); !c.done;) {
      const ref = c.int();
      const status = c.int();
      const replayed = orderState[ref]!;
      if (replayed === 0) fail(null, () => `order ${orderName(ref)} is not in the ledger`);
      else if (replayed !== status) {
        fail(
          orderSeq[ref]!,
          () =>
            `order ${orderName(ref)} is ${ORDER_NAMES[status] ?? 'unknown'} now, but the ledger left it ${ORDER_NAMES[replayed]}`,
          true,
        );
      }
    }
  }

  const bySeq = (a: VerifyProblem, b: VerifyProblem): number => (a.seq ?? Infinity) - (b.seq ?? Infinity);
  const all = [...chainProblems, ...problems].sort(bySeq).slice(0, MAX_PROBLEMS);
  return {
    ok: all.length === 0,
    entries: (older?.entries ?? 0) + newer.entries,
    ...(firstBadEntry !== Infinity ? { firstBadEntry } : firstMismatch !== Infinity ? { firstBadEntry: firstMismatch } : {}),
    problems: all,
  };
}

/** Where the worker's share of the chain ends (an entry that exists), or null for a short or in-memory ledger. */
function chainSplit(db: ReadableDB, last: number, minEntries: number, share: number): { seq: number; hash: string } | null {
  if (db.memory || db.name === '') return null;
  // The last entry's number stands for the ledger's length: max() reads one index page, count(*) every row.
  if (last < minEntries) return null;
  const row = stmt(db, 'SELECT seq, lower(hex(hash)) AS hash FROM ledger WHERE seq <= ? ORDER BY seq DESC LIMIT 1').get(
    Math.max(1, Math.floor(last * Math.min(1, Math.max(0, share)))),
  ) as { seq: number; hash: string } | undefined;
  return row ?? null;
}
