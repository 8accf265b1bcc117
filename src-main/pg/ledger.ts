/**
 * The hash-chained ledger on PostgreSQL: one chain for every server. An append takes a transaction-level
 * advisory lock, then reads the head and inserts after it, so appends from any number of servers line up
 * one after another; the lock is held until the appending transaction ends, which is why every write
 * transaction appends last, just before its COMMIT (the chain is the one thing all purchases share).
 * Under READ COMMITTED the head is read after the lock is granted, in a statement of its own, so it sees
 * the entry the previous holder committed.
 */
import type pg from 'pg';
import {
  chainEntries,
  decodeKeyIds,
  entryHash,
  LEDGER_COLUMNS,
  type LedgerEntryInput,
  type LedgerHead,
  type LedgerRow,
} from '../engine/ledger';
import { EDITED, MAX_PROBLEMS, PREVIOUS } from '../engine/ledger-chain';
import type { VerifyProblem, VerifyReport } from '../engine/ledger-verify';
import { inTransaction, type Queryable } from './connect';
import { LOCKS } from './migrate';

/** `(($1, $2, ...), ($10, ...))` for `rows` rows of `width` values. */
export function valuesList(rows: number, width: number, first = 1): string {
  const tuples: string[] = [];
  for (let r = 0; r < rows; r++) {
    const params: string[] = [];
    for (let c = 0; c < width; c++) params.push(`$${first + r * width + c}`);
    tuples.push(`(${params.join(', ')})`);
  }
  return tuples.join(', ');
}

/** Appends entries after the head, chained; returns the last sequence number. Call last in a write transaction. */
export async function appendLedger(client: Queryable, inputs: readonly LedgerEntryInput[]): Promise<number> {
  await client.query('SELECT pg_advisory_xact_lock($1)', [LOCKS.ledger]);
  const head = await client.query<LedgerHead>('SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1');
  const chained = chainEntries(head.rows[0] ?? null, inputs);
  if (inputs.length > 0) {
    await client.query(
      `INSERT INTO ledger (${LEDGER_COLUMNS.join(', ')}) VALUES ${valuesList(inputs.length, LEDGER_COLUMNS.length)}`,
      chained.values,
    );
  }
  return chained.head.seq;
}

/**
 * Verifies the ledger on PostgreSQL as `verifyLedger` does on SQLite (same report): walks the chain in
 * pages (consecutive sequence numbers, each link the previous hash, each hash its entry's fields),
 * replays every entry's `keysTo` / `orderTo` over the keys and orders it names, then compares the
 * replayed state with the rows as they are now. Runs in one REPEATABLE READ snapshot, so writes that
 * land meanwhile neither show up half nor break the comparison.
 */
export async function verifyLedgerPg(pool: pg.Pool, pageSize = 5000): Promise<VerifyReport> {
  return inTransaction(pool, (client) => verifyLedgerIn(client, pageSize), 'REPEATABLE READ');
}

/** `verifyLedgerPg` inside the caller's transaction (a copy checks what it wrote before it commits). */
export async function verifyLedgerIn(client: Queryable, pageSize = 5000): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  // As on SQLite (ledger-verify.ts): an entry that is itself bad (a broken link, an edit) outranks a
  // row that merely disagrees with the last entry that moved it, which is usually intact.
  let firstBad = Infinity;
  let firstMismatch = Infinity;
  const note = (seq: number | null, reason: string, mismatch = false): void => {
    if (seq !== null && mismatch) firstMismatch = Math.min(firstMismatch, seq);
    else if (seq !== null) firstBad = Math.min(firstBad, seq);
    if (problems.length < MAX_PROBLEMS) problems.push({ seq, reason });
  };
  const keys = new Map<number, { state: string; seq: number }>();
  const orders = new Map<string, { state: string; seq: number }>();
  let expectSeq = 1;
  let prev: Buffer = Buffer.alloc(32);
  let entries = 0;
  for (;;) {
    const page = await client.query<LedgerRow>('SELECT * FROM ledger WHERE seq >= $1 ORDER BY seq LIMIT $2', [
      expectSeq,
      pageSize,
    ]);
    for (const row of page.rows) {
      if (row.seq !== expectSeq) note(expectSeq, `entry ${expectSeq} is missing`);
      else if (!row.prev_hash.equals(prev)) note(row.seq, PREVIOUS);
      else if (!entryHash(row).equals(row.hash)) note(row.seq, EDITED);
      prev = row.hash;
      expectSeq = row.seq + 1;
      entries++;
      let detail: { keysTo?: string; orderTo?: string };
      try {
        detail = JSON.parse(row.detail) as typeof detail;
      } catch {
        note(row.seq, 'its detail is not JSON');
        continue;
      }
      if (detail.keysTo !== undefined) {
        try {
          for (const id of decodeKeyIds(row.key_ids)) keys.set(id, { state: detail.keysTo, seq: row.seq });
        } catch {
          note(row.seq, 'its key ids are damaged');
        }
      }
      if (detail.orderTo !== undefined && row.order_id !== null)
        orders.set(row.order_id, { state: detail.orderTo, seq: row.seq });
    }
    if (page.rows.length < pageSize) break;
  }
  const keyRows = await client.query<{ id: number; status: string }>(`SELECT id, status FROM keys WHERE status <> 'staged'`);
  for (const key of keyRows.rows) {
    const replayed = keys.get(key.id);
    if (!replayed) note(null, `key ${key.id} is ${key.status} but no ledger entry moved it`);
    else if (replayed.state !== key.status)
      note(replayed.seq, `key ${key.id} is ${key.status} now, but the ledger left it ${replayed.state}`, true);
    keys.delete(key.id);
  }
  for (const [id, replayed] of keys) note(replayed.seq, `key ${id} is in the ledger but not in the vault`);
  const orderRows = await client.query<{ id: string; status: string }>('SELECT id, status FROM orders');
  for (const order of orderRows.rows) {
    const replayed = orders.get(order.id);
    if (!replayed) note(null, `order ${order.id} is ${order.status} but no ledger entry moved it`);
    else if (replayed.state !== order.status) {
      note(replayed.seq, `order ${order.id} is ${order.status} now, but the ledger left it ${replayed.state}`, true);
    }
  }
  const first = firstBad !== Infinity ? firstBad : firstMismatch;
  return {
    ok: problems.length === 0,
    entries,
    ...(first !== Infinity ? { firstBadEntry: first } : {}),
    problems,
  };
}
