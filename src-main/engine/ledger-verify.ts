/**
 * Ledger verification: walk the hash chain, replay every entry as a state machine over keys and orders,
 * then compare the replayed state with the rows as they are now. The first entry that does not fit
 * (a broken hash, an impossible transition, or a key or order whose current state disagrees with the
 * last entry that moved it) is named.
 */
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { decodeKeyIds, entryHash, type KeyState, type LedgerRow, type OrderState } from './ledger';

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

/** Verifies in one read transaction, so a sale committing meanwhile cannot look like a mismatch. */
export function verifyLedger(db: ReadableDB): VerifyReport {
  return db.transaction(() => verifyInSnapshot(db))();
}

function verifyInSnapshot(db: ReadableDB): VerifyReport {
  const maxKey = (stmt(db, 'SELECT coalesce(max(id), 0) FROM keys').pluck().get() as number) + 1;
  // Replayed state, in typed arrays: a million keys cost a few megabytes.
  const keyState = new Uint8Array(maxKey);
  const keyOrder = new Int32Array(maxKey).fill(-1);
  const keySeq = new Float64Array(maxKey);
  const orderIndex = new Map<string, number>();
  const orders: { id: string; status: OrderState; seq: number }[] = [];
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

  let previousHash = Buffer.alloc(32);
  let expectedSeq = 1;
  let entries = 0;
  for (const row of stmt(db, 'SELECT * FROM ledger ORDER BY seq').iterate() as IterableIterator<LedgerRow>) {
    entries++;
    if (row.seq !== expectedSeq) fail(row.seq, `entry ${expectedSeq} is missing`);
    expectedSeq = row.seq + 1;
    if (!Buffer.from(row.prev_hash).equals(previousHash)) fail(row.seq, 'its previous-hash does not match the entry before it');
    if (!entryHash(row).equals(Buffer.from(row.hash))) fail(row.seq, 'its contents do not match its hash (edited)');
    previousHash = Buffer.from(row.hash);

    let detail: { keysTo?: KeyState; orderTo?: OrderState };
    try {
      detail = JSON.parse(row.detail) as typeof detail;
    } catch {
      fail(row.seq, 'its detail is not JSON');
      continue;
    }
    let orderIdx = -1;
    if (row.order_id !== null) {
      orderIdx = orderIndex.get(row.order_id) ?? -1;
      if (orderIdx < 0) {
        orderIdx = orders.length;
        orderIndex.set(row.order_id, orderIdx);
        orders.push({ id: row.order_id, status: 'reserved', seq: row.seq });
      }
    }
    if (detail.keysTo !== undefined) {
      const to = KEY_CODES[detail.keysTo];
      const from = ALLOWED_FROM[row.kind] ?? [];
      try {
        for (const id of decodeKeyIds(row.key_ids)) {
          if (id >= maxKey) {
            fail(row.seq, `it moves key ${id}, which no longer exists`);
            continue;
          }
          const current = keyState[id]!;
          if (!from.includes(current)) {
            fail(row.seq, `it moves key ${id} from ${KEY_NAMES[current]}, which a ${row.kind} cannot do`);
          } else if (current === KEY_CODES.reserved && row.kind !== 'burn' && keyOrder[id] !== orderIdx) {
            fail(row.seq, `it moves key ${id}, held by another order`);
          }
          keyState[id] = to;
          keyOrder[id] = to === KEY_CODES.reserved || to === KEY_CODES.sold || to === KEY_CODES.burned ? orderIdx : -1;
          keySeq[id] = row.seq;
        }
      } catch (error) {
        fail(row.seq, `its key ids are damaged (${(error as Error).message})`);
      }
    }
    if (detail.orderTo !== undefined && orderIdx >= 0) {
      const order = orders[orderIdx]!;
      order.status = detail.orderTo;
      order.seq = row.seq;
    }
  }

  // Compare the replay with the rows as they are now.
  const keyRows = stmt(db, `SELECT id, status, order_id FROM keys WHERE status <> 'staged' ORDER BY id`).iterate() as IterableIterator<{
    id: number;
    status: KeyState;
    order_id: string | null;
  }>;
  const seenKey = new Uint8Array(maxKey);
  for (const key of keyRows) {
    seenKey[key.id] = 1;
    const replayed = keyState[key.id]!;
    const seq = keySeq[key.id] || null;
    if (replayed === KEY_CODES.none) {
      fail(null, `key ${key.id} is ${key.status} but no ledger entry ever imported it`);
      continue;
    }
    if (replayed !== KEY_CODES[key.status]) {
      fail(seq, `key ${key.id} is ${key.status} now, but the ledger left it ${KEY_NAMES[replayed]}`, true);
      continue;
    }
    const replayedOrder = keyOrder[key.id]!;
    const expectOrder = replayedOrder >= 0 ? (orders[replayedOrder]?.id ?? null) : null;
    if ((key.status === 'reserved' || key.status === 'sold') && key.order_id !== expectOrder) {
      fail(seq, `key ${key.id} belongs to order ${key.order_id ?? 'none'} now, but the ledger gave it to ${expectOrder ?? 'none'}`, true);
    }
  }
  for (let id = 1; id < maxKey; id++) {
    if (keyState[id] !== KEY_CODES.none && seenKey[id] === 0) fail(keySeq[id] || null, `key ${id} is in the ledger but not in the vault`, true);
  }
  const orderRows = stmt(db, 'SELECT id, status FROM orders').iterate() as IterableIterator<{ id: string; status: OrderState }>;
  for (const order of orderRows) {
    const idx = orderIndex.get(order.id);
    if (idx === undefined) {
      fail(null, `order ${order.id} is not in the ledger`);
      continue;
    }
    const replayed = orders[idx]!;
    if (replayed.status !== order.status) {
      fail(replayed.seq, `order ${order.id} is ${order.status} now, but the ledger left it ${replayed.status}`, true);
    }
  }

  return {
    ok: problems.length === 0,
    entries,
    ...(firstBadEntry !== Infinity ? { firstBadEntry } : firstMismatch !== Infinity ? { firstBadEntry: firstMismatch } : {}),
    problems: [...problems].sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity)),
  };
}
