/**
 * The hash-chained ledger. Every stock movement and order transition appends one entry, in the same
 * transaction as the movement. Each entry stores the SHA-256 of the previous entry, so an edit, a
 * deletion or an insertion anywhere in history breaks the chain, and `verifyLedger` replays the chain
 * against the keys and orders as they are now, naming the first entry that does not fit.
 */
import { hash } from 'node:crypto';
import { runRows, stmt, type RowsStatement } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { sha256 } from './ids';

export type LedgerKind = 'import' | 'reserve' | 'release' | 'sell' | 'refund' | 'burn' | 'review';
export type KeyState = 'available' | 'reserved' | 'sold' | 'burned';
export type OrderState = 'reserved' | 'paid' | 'delivered' | 'expired' | 'refunded' | 'needs_review';

export interface LedgerEntryInput {
  readonly kind: LedgerKind;
  readonly at: number;
  readonly productId: string;
  readonly orderId?: string | null;
  /** The keys this entry moves (may be empty for a pure order transition), or their runs already encoded. */
  readonly keyIds: readonly number[] | KeyIdRuns;
  /** The state the keys are in after the entry (omit when no key moves). */
  readonly keysTo?: KeyState;
  /** The order's status after the entry (omit when the order does not change). */
  readonly orderTo?: OrderState;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface LedgerRow {
  readonly seq: number;
  readonly at: number;
  readonly kind: LedgerKind;
  readonly product_id: string;
  readonly order_id: string | null;
  readonly key_ids: string;
  readonly detail: string;
  readonly prev_hash: Buffer;
  readonly hash: Buffer;
}

const GENESIS = Buffer.alloc(32);

/** Compresses ascending runs of key ids: [1,2,3,7,9,10] -> "1-3,7,9-10". */
export function encodeKeyIds(ids: readonly number[]): string {
  if (ids.length === 1) return String(ids[0]);
  const runs = new KeyIdRuns();
  for (const id of [...ids].sort((a, b) => a - b)) runs.add(id);
  return runs.text();
}

/**
 * `encodeKeyIds` fed one id at a time, in ascending order, holding only the runs: an import's entry
 * names up to a million keys, which need not all be in memory at once.
 */
export class KeyIdRuns {
  private readonly parts: string[] = [];
  private start = 0;
  private end = 0;
  private open = false;
  /** How many ids were added. */
  count = 0;

  add(id: number): void {
    this.count++;
    if (this.open && id === this.end + 1) {
      this.end = id;
      return;
    }
    this.close();
    this.start = id;
    this.end = id;
    this.open = true;
  }

  text(): string {
    this.close();
    return this.parts.join(',');
  }

  private close(): void {
    if (!this.open) return;
    this.parts.push(this.start === this.end ? String(this.start) : `${this.start}-${this.end}`);
    this.open = false;
  }
}

/** Every id of an encoded list ("1-3,7" gives 1, 2, 3, 7); throws on a damaged range. */
export function decodeKeyIds(text: string): number[] {
  const ranges: number[] = [];
  keyIdRanges(text, ranges);
  const ids: number[] = [];
  for (let r = 0; r < ranges.length; r += 2) for (let id = ranges[r]!; id <= ranges[r + 1]!; id++) ids.push(id);
  return ids;
}

/** How many ids an encoded list names, without listing them (an import entry may name a million). */
export function countKeyIds(text: string): number {
  const ranges: number[] = [];
  keyIdRanges(text, ranges);
  let n = 0;
  for (let r = 0; r < ranges.length; r += 2) n += ranges[r + 1]! - ranges[r]! + 1;
  return n;
}

/** Fills `out` with the [first, last] pairs of an encoded list ("1-3,7" gives 1, 3, 7, 7); throws on a damaged range. */
export function keyIdRanges(text: string, out: number[]): void {
  out.length = 0;
  if (text === '') return;
  let from = 0;
  while (from <= text.length) {
    let comma = text.indexOf(',', from);
    if (comma < 0) comma = text.length;
    const part = text.slice(from, comma);
    const dash = part.indexOf('-');
    const start = Number(dash < 0 ? part : part.slice(0, dash));
    const end = dash < 0 ? start : Number(part.slice(dash + 1));
    if (part === '' || !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
      throw new Error(`bad key id range "${part}"`);
    }
    out.push(start, end);
    from = comma + 1;
  }
}

/** The hashed bytes: the previous entry's hash, then the entry's fields as a JSON array. */
function hashedBody(
  seq: number,
  at: number,
  kind: string,
  productId: string,
  orderId: string | null,
  keyIds: string,
  detail: string,
): string {
  return JSON.stringify([seq, at, kind, productId, orderId, keyIds, detail]);
}

export function entryHash(row: Omit<LedgerRow, 'hash'>): Buffer {
  return sha256(
    hashedBytes(row.prev_hash, hashedBody(row.seq, row.at, row.kind, row.product_id, row.order_id, row.key_ids, row.detail)),
  );
}

/** The previous hash followed by the body's UTF-8 bytes, in one buffer. */
function hashedBytes(prev: Buffer, body: string): Buffer {
  const bytes = Buffer.allocUnsafe(prev.length + Buffer.byteLength(body));
  prev.copy(bytes, 0);
  bytes.write(body, prev.length);
  return bytes;
}

/** `entryHash` in lowercase hex, from the previous hash in hex (what the verifier reads). */
export function entryHashHex(
  seq: number,
  at: number,
  kind: string,
  productId: string,
  orderId: string | null,
  keyIds: string,
  detail: string,
  prevHex: string,
): string {
  return hash(
    'sha256',
    hashedBytes(Buffer.from(prevHex, 'hex'), hashedBody(seq, at, kind, productId, orderId, keyIds, detail)),
    'hex',
  );
}

/** The columns of a ledger row, in the order `chainEntries` gives their values. */
export const LEDGER_COLUMNS = ['seq', 'at', 'kind', 'product_id', 'order_id', 'key_ids', 'detail', 'prev_hash', 'hash'] as const;

const INSERT_ENTRIES: RowsStatement = {
  sql: (list) => `INSERT INTO ledger (${LEDGER_COLUMNS.join(', ')}) VALUES ${list}`,
  tuple: '(?, ?, ?, ?, ?, ?, ?, ?, ?)',
  width: 9,
};

/** Appends one entry after the current head; returns its sequence number. Call inside a write transaction. */
export function appendLedger(db: WritableDB, input: LedgerEntryInput): number {
  return appendLedgerEntries(db, [input]);
}

/** The last entry of the chain (null when empty): what the next entry is chained to. */
export interface LedgerHead {
  readonly seq: number;
  readonly hash: Buffer;
}

/**
 * The rows of `inputs` chained in order after `head`, as flat insert values (the nine columns of
 * INSERT_ENTRIES per entry), and the new head. Pure: every backend appends with it, under its own lock.
 */
export function chainEntries(
  head: LedgerHead | null,
  inputs: readonly LedgerEntryInput[],
): { values: unknown[]; head: LedgerHead } {
  let seq = head?.seq ?? 0;
  let prev = head?.hash ?? GENESIS;
  const values: unknown[] = [];
  for (const input of inputs) {
    // Object.assign, not a spread: on Node 20 a spread object with keys added after it is slow to stringify.
    const detail: Record<string, unknown> = Object.assign({}, input.detail);
    if (input.keysTo !== undefined) detail.keysTo = input.keysTo;
    if (input.orderTo !== undefined) detail.orderTo = input.orderTo;
    seq++;
    const orderId = input.orderId ?? null;
    const keyIds = input.keyIds instanceof KeyIdRuns ? input.keyIds.text() : encodeKeyIds(input.keyIds);
    const detailJson = JSON.stringify(detail);
    const hash = sha256(hashedBytes(prev, hashedBody(seq, input.at, input.kind, input.productId, orderId, keyIds, detailJson)));
    values.push(seq, input.at, input.kind, input.productId, orderId, keyIds, detailJson, prev, hash);
    prev = hash;
  }
  return { values, head: { seq, hash: prev } };
}

/**
 * Appends entries in order after the current head, each chained to the one before, with one read of the
 * head and multi-row inserts (a batch of purchases); returns the last sequence number. Call inside a
 * write transaction.
 */
export function appendLedgerEntries(db: WritableDB, inputs: readonly LedgerEntryInput[]): number {
  const head = stmt(db, 'SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1').get() as LedgerHead | undefined;
  const chained = chainEntries(head ?? null, inputs);
  runRows(db, INSERT_ENTRIES, chained.values);
  return chained.head.seq;
}

export function readLedger(db: ReadableDB, options: { afterSeq?: number; limit?: number } = {}): LedgerRow[] {
  return stmt(db, 'SELECT * FROM ledger WHERE seq > ? ORDER BY seq LIMIT ?').all(
    options.afterSeq ?? 0,
    options.limit ?? 1000,
  ) as LedgerRow[];
}
