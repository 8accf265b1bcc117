/**
 * Ledger verification: walk the hash chain, replay every entry as a state machine over keys and orders,
 * then compare the replayed state with the rows as they are now. The first entry that does not fit
 * (a broken hash, an impossible transition, or a key or order whose current state disagrees with the
 * last entry that moved it) is named.
 */
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { entryHashHex, keyIdRanges, type KeyState, type LedgerKind, type OrderState } from './ledger';
import { type ChainProblem, type ChainResult, startChainWorker } from './ledger-chain';

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

const KEY_CODES: Record<KeyState | 'none', number> = { none: 0, available: 1, reserved: 2, sold: 3, burned: 4 };
const KEY_NAMES = ['none', 'available', 'reserved', 'sold', 'burned'] as const;

/** Which key states each kind of entry may move a key from. */
const ALLOWED_FROM: Record<string, readonly number[]> = {
  import: [KEY_CODES.none],
  reserve: [KEY_CODES.available],
  release: [KEY_CODES.reserved],
  sell: [KEY_CODES.reserved, KEY_CODES.available],
  refund: [KEY_CODES.sold],
  burn: [KEY_CODES.sold, KEY_CODES.available, KEY_CODES.reserved],
};

const MAX_PROBLEMS = 50;
const GENESIS_HEX = '0'.repeat(64);
const CHAIN_COLUMNS = 'SELECT seq, at, kind, product_id, order_id, key_ids, detail, lower(hex(prev_hash)), lower(hex(hash)) FROM ledger';

type RawLedgerRow = [number, number, LedgerKind, string, string | null, string, string, string, string];
interface Detail {
  readonly keysTo?: KeyState;
  readonly orderTo?: OrderState;
}

/** A ledger holds few distinct details (`{"keysTo":"sold","orderTo":"delivered"}` a million times): parse each once. */
class DetailCache {
  private readonly seen = new Map<string, Detail | null>();

  parse(text: string): Detail | null {
    const known = this.seen.get(text);
    if (known !== undefined) return known;
    let detail: Detail | null;
    try {
      const parsed = JSON.parse(text) as unknown;
      detail = typeof parsed === 'object' && parsed !== null ? parsed : {};
    } catch {
      detail = null;
    }
    if (this.seen.size < 4096) this.seen.set(text, detail);
    return detail;
  }
}

export interface VerifyOptions {
  /**
   * Hash the older part of the chain in a worker thread while this thread replays the states:
   * 'auto' (the default) for a file-backed ledger of at least PARALLEL_MIN_ENTRIES entries.
   */
  readonly parallel?: 'auto' | 'always' | 'never';
}

/** Below this many entries a worker costs more than it saves. */
const PARALLEL_MIN_ENTRIES = 50_000;
/** The worker's share of the chain: this thread also replays every entry, so it hashes less. */
const WORKER_SHARE = 0.65;

/** Verifies in one read transaction, so a sale committing meanwhile cannot look like a mismatch. */
export function verifyLedger(db: ReadableDB, options: VerifyOptions = {}): VerifyReport {
  return db.transaction(() => verifyInSnapshot(db, options.parallel ?? 'auto'))();
}

function verifyInSnapshot(db: ReadableDB, parallel: 'auto' | 'always' | 'never'): VerifyReport {
  const maxKey = (stmt(db, 'SELECT coalesce(max(id), 0) FROM keys').pluck().get() as number) + 1;
  // Replayed state, in typed arrays: a million keys cost a few megabytes.
  const keyState = new Uint8Array(maxKey);
  const keyOrder = new Int32Array(maxKey).fill(-1);
  const keySeq = new Float64Array(maxKey);
  const orderIndex = new Map<string, number>();
  // Orders in the order the ledger first named them: id, replayed status, the entry that last moved it.
  const orderIds: string[] = [];
  const orderStatus: OrderState[] = [];
  const orderSeq: number[] = [];
  const problems: VerifyProblem[] = [];
  // An entry that is itself bad (broken chain, edited, impossible move) outranks a row that merely
  // disagrees with the last entry that moved it: that entry is usually intact, the damage came after it.
  let firstBadEntry = Infinity;
  let firstMismatch = Infinity;
  const fail = (seq: number | null, reason: string, mismatch = false): void => {
    if (seq !== null && mismatch) firstMismatch = Math.min(firstMismatch, seq);
    else if (seq !== null) firstBadEntry = Math.min(firstBadEntry, seq);
    if (problems.length < MAX_PROBLEMS) problems.push({ seq, reason });
  };
  // The chain's own problems, apart: for one entry they come before what its replay found, whichever
  // thread found them.
  const chainProblems: VerifyProblem[] = [];
  const chainFail = (seq: number, reason: string): void => {
    firstBadEntry = Math.min(firstBadEntry, seq);
    if (chainProblems.length < MAX_PROBLEMS) chainProblems.push({ seq, reason });
  };

  const details = new DetailCache();
  const ranges: number[] = [];
  const replay = (seq: number, kind: LedgerKind, orderId: string | null, keyIds: string, detailText: string): void => {
    const detail = details.parse(detailText);
    if (detail === null) {
      fail(seq, 'its detail is not JSON');
      return;
    }
    let orderIdx = -1;
    if (orderId !== null) {
      orderIdx = orderIndex.get(orderId) ?? -1;
      if (orderIdx < 0) {
        orderIdx = orderIds.length;
        orderIndex.set(orderId, orderIdx);
        orderIds.push(orderId);
        orderStatus.push('reserved');
        orderSeq.push(seq);
      }
    }
    if (detail.keysTo !== undefined) {
      const to = KEY_CODES[detail.keysTo];
      const from = ALLOWED_FROM[kind] ?? [];
      const holder = to === KEY_CODES.reserved || to === KEY_CODES.sold || to === KEY_CODES.burned ? orderIdx : -1;
      try {
        keyIdRanges(keyIds, ranges);
      } catch (error) {
        fail(seq, `its key ids are damaged (${(error as Error).message})`);
        ranges.length = 0;
      }
      for (let r = 0; r < ranges.length; r += 2) {
        for (let id = ranges[r]!; id <= ranges[r + 1]!; id++) {
          if (id >= maxKey) {
            fail(seq, `it moves key ${id}, which no longer exists`);
            continue;
          }
          const current = keyState[id]!;
          if (!from.includes(current)) {
            fail(seq, `it moves key ${id} from ${KEY_NAMES[current]}, which a ${kind} cannot do`);
          } else if (current === KEY_CODES.reserved && kind !== 'burn' && keyOrder[id] !== orderIdx) {
            fail(seq, `it moves key ${id}, held by another order`);
          }
          keyState[id] = to;
          keyOrder[id] = holder;
          keySeq[id] = seq;
        }
      }
    }
    if (detail.orderTo !== undefined && orderIdx >= 0) {
      orderStatus[orderIdx] = detail.orderTo;
      orderSeq[orderIdx] = seq;
    }
  };

  // A long ledger: a worker checks the chain of entries 1..split while this thread replays them.
  const split = parallel === 'never' ? null : chainSplit(db, parallel === 'always' ? 1 : PARALLEL_MIN_ENTRIES);
  const worker = split === null ? null : startChainWorker(db.name, split.seq, MAX_PROBLEMS);
  let entries = 0;
  let chainFrom: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HEX };
  if (worker !== null && split !== null) {
    const older = db.prepare('SELECT seq, kind, order_id, key_ids, detail FROM ledger WHERE seq <= ? ORDER BY seq').raw();
    for (const [seq, kind, orderId, keyIds, detailText] of older.iterate(split.seq) as IterableIterator<
      [number, LedgerKind, string | null, string, string]
    >) {
      replay(seq, kind, orderId, keyIds, detailText);
    }
    chainFrom = split;
  }
  // Rows come as arrays with the hashes in hex: a Buffer per BLOB per row costs more than the rest of the
  // replay together at a million entries. (Prepared here, not from the shared cache: raw mode sticks.)
  const newer = db.prepare(`${CHAIN_COLUMNS} WHERE seq > ? ORDER BY seq`).raw();
  const chain = new ChainCheck(chainFrom, chainFail);
  for (const row of newer.iterate(chainFrom.seq) as IterableIterator<RawLedgerRow>) {
    entries++;
    chain.check(row);
    replay(row[0], row[2], row[4], row[5], row[6]);
  }
  if (worker !== null) {
    const older = worker.wait() ?? checkChain(db, chainFrom.seq);
    entries += older.entries;
    for (const problem of older.problems) chainFail(problem.seq, problem.reason);
  }

  // Compare the replay with the rows as they are now.
  const keyRows = db.prepare(`SELECT id, status, order_id FROM keys WHERE status <> 'staged' ORDER BY id`).raw();
  const seenKey = new Uint8Array(maxKey);
  for (const [id, status, orderId] of keyRows.iterate() as IterableIterator<[number, KeyState, string | null]>) {
    seenKey[id] = 1;
    const replayed = keyState[id]!;
    const seq = keySeq[id] || null;
    if (replayed === KEY_CODES.none) {
      fail(null, `key ${id} is ${status} but no ledger entry ever imported it`);
      continue;
    }
    if (replayed !== KEY_CODES[status]) {
      fail(seq, `key ${id} is ${status} now, but the ledger left it ${KEY_NAMES[replayed]}`, true);
      continue;
    }
    if (status === 'reserved' || status === 'sold') {
      const replayedOrder = keyOrder[id]!;
      const expectOrder = replayedOrder >= 0 ? (orderIds[replayedOrder] ?? null) : null;
      if (orderId !== expectOrder) {
        fail(seq, `key ${id} belongs to order ${orderId ?? 'none'} now, but the ledger gave it to ${expectOrder ?? 'none'}`, true);
      }
    }
  }
  for (let id = 1; id < maxKey; id++) {
    if (keyState[id] !== KEY_CODES.none && seenKey[id] === 0) fail(keySeq[id] || null, `key ${id} is in the ledger but not in the vault`, true);
  }
  const orderRows = db.prepare('SELECT id, status FROM orders').raw();
  for (const [id, status] of orderRows.iterate() as IterableIterator<[string, OrderState]>) {
    const idx = orderIndex.get(id);
    if (idx === undefined) {
      fail(null, `order ${id} is not in the ledger`);
      continue;
    }
    if (orderStatus[idx] !== status) {
      fail(orderSeq[idx]!, `order ${id} is ${status} now, but the ledger left it ${orderStatus[idx]}`, true);
    }
  }

  const bySeq = (a: VerifyProblem, b: VerifyProblem): number => (a.seq ?? Infinity) - (b.seq ?? Infinity);
  const all = [...chainProblems.sort(bySeq), ...problems.sort(bySeq)].sort(bySeq).slice(0, MAX_PROBLEMS);
  return {
    ok: all.length === 0,
    entries,
    ...(firstBadEntry !== Infinity ? { firstBadEntry } : firstMismatch !== Infinity ? { firstBadEntry: firstMismatch } : {}),
    problems: all,
  };
}

/** Where the worker's share of the chain ends (an entry that exists), or null for a short or in-memory ledger. */
function chainSplit(db: ReadableDB, minEntries: number): { seq: number; hash: string } | null {
  if (db.memory || db.name === '') return null;
  // The last entry's number stands for the ledger's length: max() reads one index page, count(*) every row.
  const last = stmt(db, 'SELECT coalesce(max(seq), 0) FROM ledger').pluck().get() as number;
  if (last < minEntries) return null;
  const row = stmt(db, 'SELECT seq, lower(hex(hash)) AS hash FROM ledger WHERE seq <= ? ORDER BY seq DESC LIMIT 1').get(
    Math.max(1, Math.floor(last * WORKER_SHARE)),
  ) as { seq: number; hash: string } | undefined;
  return row ?? null;
}

/** Checks each entry against the one before it: no gap in the numbers, the previous hash, its own hash. */
class ChainCheck {
  private previousHash: string;
  private expectedSeq: number;

  constructor(
    from: { readonly seq: number; readonly hash: string },
    private readonly fail: (seq: number, reason: string) => void,
  ) {
    this.previousHash = from.hash;
    this.expectedSeq = from.seq + 1;
  }

  check([seq, at, kind, productId, orderId, keyIds, detail, prevHex, hashHex]: RawLedgerRow): void {
    if (seq !== this.expectedSeq) this.fail(seq, `entry ${this.expectedSeq} is missing`);
    this.expectedSeq = seq + 1;
    if (prevHex !== this.previousHash) this.fail(seq, 'its previous-hash does not match the entry before it');
    if (entryHashHex(seq, at, kind, productId, orderId, keyIds, detail, prevHex) !== hashHex) {
      this.fail(seq, 'its contents do not match its hash (edited)');
    }
    this.previousHash = hashHex;
  }
}

/** The chain checks of entries 1..upToSeq in this thread (when the worker could not do them). */
function checkChain(db: ReadableDB, upToSeq: number): ChainResult {
  const problems: ChainProblem[] = [];
  const chain = new ChainCheck({ seq: 0, hash: GENESIS_HEX }, (seq, reason) => {
    if (problems.length < MAX_PROBLEMS) problems.push({ seq, reason });
  });
  let entries = 0;
  for (const row of db.prepare(`${CHAIN_COLUMNS} WHERE seq <= ? ORDER BY seq`).raw().iterate(upToSeq) as IterableIterator<RawLedgerRow>) {
    entries++;
    chain.check(row);
  }
  return { entries, problems };
}
