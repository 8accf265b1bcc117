/**
 * The hash-chain half of ledger verification. SQLite hands the entries over in batches, one string per
 * few thousand entries (`CHAIN_BATCH_SQL`: each entry as its previous hash and own hash in hex, then the
 * hashed JSON body built by SQLite's json_array), because handing them over row by row costs more than
 * the hashing: at a million entries the per-row values alone took seconds.
 *
 * json_array writes the same text as JSON.stringify for everything the application stores; where a
 * tamperer's odd text makes the two differ, an entry whose hash does not match is hashed once more
 * from its columns, exactly as ledger.ts `entryHash` did, before it is called edited.
 *
 * `checkChain` runs in the caller's thread, in the ledger worker (ledger-worker.ts), or both, each on
 * its own part of the chain.
 */
import { hash } from 'node:crypto';
import type { ReadableDB } from '../db/types';
import { entryHashHex } from './ledger';

export interface ChainProblem {
  readonly seq: number;
  readonly reason: string;
}

export interface ChainResult {
  readonly entries: number;
  readonly problems: readonly ChainProblem[];
}

/** Entries (seq > ?1 and <= ?2, at most ?3 of them) as lines of `prevhex hashhex [seq,at,kind,product,order,keys,detail]`. */
const CHAIN_BATCH_SQL = `SELECT group_concat(lower(hex(prev_hash)) || ' ' || lower(hex(hash)) || ' '
    || json_array(seq, at, kind, product_id, order_id, key_ids, detail), char(10) ORDER BY seq), max(seq), count(*)
  FROM (SELECT * FROM ledger WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?)`;
/** One entry's columns, to hash it exactly as it was written when the batch's hash disagrees. */
const CHAIN_ROW_SQL =
  'SELECT seq, at, kind, product_id, order_id, key_ids, detail, lower(hex(prev_hash)) FROM ledger WHERE seq = ?';
/** Entries (or rows) per batch that SQLite hands over as one string, here and in the replay and the compare. */
export const LEDGER_BATCH = 20_000;
export const GENESIS_HEX = '0'.repeat(64);

/** Problems kept per verification (the first bad entry is named whatever their number). */
export const MAX_PROBLEMS = 50;
export const PREVIOUS = 'its previous-hash does not match the entry before it';
export const EDITED = 'its contents do not match its hash (edited)';

/** Checks entries after `from` up to `upToSeq`. */
export function checkChain(db: ReadableDB, from: { readonly seq: number; readonly hash: string }, upToSeq: number): ChainResult {
  const problems: ChainProblem[] = [];
  const fail = (seq: number, reason: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push({ seq, reason });
  };
  const batch = db.prepare(CHAIN_BATCH_SQL).raw();
  const single = db.prepare(CHAIN_ROW_SQL).raw();
  let buffer = Buffer.allocUnsafe(1 << 16);
  let previous = from.hash;
  let expected = from.seq + 1;
  let after = from.seq;
  let entries = 0;
  for (;;) {
    const [text, last, count] = batch.get(after, upToSeq, LEDGER_BATCH) as [string | null, number | null, number];
    if (count === 0 || text === null || last === null) break;
    after = last;
    entries += count;
    if (buffer.length < text.length * 3) buffer = Buffer.allocUnsafe(text.length * 3);
    let i = 0;
    while (i < text.length) {
      let end = text.indexOf('\n', i);
      if (end < 0) end = text.length;
      const s1 = text.indexOf(' ', i);
      const s2 = text.indexOf(' ', s1 + 1);
      const prevHex = text.slice(i, s1);
      const ownHex = text.slice(s1 + 1, s2);
      const seq = Number(text.slice(s2 + 2, text.indexOf(',', s2)));
      if (seq !== expected) fail(seq, `entry ${expected} is missing`);
      expected = seq + 1;
      if (prevHex !== previous) fail(seq, PREVIOUS);
      const n = buffer.write(prevHex, 0, 'hex');
      const length = n + buffer.write(text.slice(s2 + 1, end), n);
      if (hash('sha256', buffer.subarray(0, length), 'hex') !== ownHex) {
        const row = single.get(seq) as Parameters<typeof entryHashHex> | undefined;
        if (row === undefined || entryHashHex(...row) !== ownHex) fail(seq, EDITED);
      }
      previous = ownHex;
      i = end + 1;
    }
  }
  return { entries, problems };
}
