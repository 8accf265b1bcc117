/**
 * The replay half of ledger verification: every entry, in order, as a state machine over keys and
 * orders, into typed arrays (a million keys and orders cost a few megabytes). The ledger is
 * append-only, so its entries up to a given number read the same from any connection: the replay can
 * run in the ledger worker (ledger-worker.ts) while the caller reads the mutable tables in its own
 * snapshot, and the caller compares the two afterwards (ledger-verify.ts).
 *
 * SQLite hands the entries over as one string of numbers per batch (REPLAY_SQL): the entry's kind and
 * the states its detail names as small codes, the order as its row number (a join SQLite does in C),
 * the key ids as written. Handing them over row by row cost more than the replay itself.
 */
import type { ReadableDB } from '../db/types';
import { keyIdRanges, type KeyState, type OrderState } from './ledger';
import { LEDGER_BATCH, MAX_PROBLEMS } from './ledger-chain';

// Codes as the SQL writes them (0: the detail names no such state).
export const KEY_NAMES = ['none', 'available', 'reserved', 'sold', 'burned'] as const satisfies readonly ('none' | KeyState)[];
export const ORDER_NAMES = [
  'none',
  'reserved',
  'paid',
  'delivered',
  'expired',
  'refunded',
  'needs_review',
] as const satisfies readonly ('none' | OrderState)[];
const KIND_NAMES = ['', 'import', 'reserve', 'release', 'sell', 'refund', 'burn', 'review'] as const;
const UNKNOWN = 9;
const NOT_JSON = -1;
export const codeOf = (column: string, names: readonly string[]): string =>
  `CASE ${column} ${names.map((name, i) => (i === 0 ? '' : `WHEN '${name}' THEN ${i}`)).join(' ')} ELSE ${UNKNOWN} END`;
const stateCode = (path: string, names: readonly string[]): string =>
  `CASE WHEN json_extract(l.detail, '${path}') IS NULL THEN 0 ELSE ${codeOf(`json_extract(l.detail, '${path}')`, names)} END`;

/**
 * Entries seq > ?1 and <= ?2, at most ?3: per entry seq, kind, keys-to, order-to (NOT_JSON when the
 * detail is not JSON), the order's row number (0: none; -1: not in the orders table), then the key ids
 * ('!' when they hold anything but digits, commas and dashes). Entries end with ';' and the key ids
 * come last, so their commas are theirs.
 */
const REPLAY_SQL = `SELECT group_concat(line, ';' ORDER BY seq), max(seq), count(*) FROM (
  SELECT l.seq AS seq, l.seq || ',' || ${codeOf('l.kind', KIND_NAMES)} || ','
    || CASE WHEN NOT json_valid(l.detail) THEN '${NOT_JSON},${NOT_JSON}'
       ELSE ${stateCode('$.keysTo', KEY_NAMES)} || ',' || ${stateCode('$.orderTo', ORDER_NAMES)} END || ','
    || CASE WHEN l.order_id IS NULL THEN 0 WHEN o.rowid IS NULL THEN -1 ELSE o.rowid END || ','
    || CASE WHEN l.key_ids GLOB '*[^0-9,-]*' THEN '!' ELSE l.key_ids END AS line
  FROM ledger l LEFT JOIN orders o ON o.id = l.order_id WHERE l.seq > ? AND l.seq <= ? ORDER BY l.seq LIMIT ?)`;

/** Which key states each kind of entry (by code) may move a key from. */
const ALLOWED_FROM: readonly (readonly number[])[] = [
  [],
  [0], // import
  [1], // reserve
  [2], // release
  [2, 1], // sell
  [3], // refund
  [3, 1, 2], // burn
  [], // review
];
const BURN = 6;

/** The replayed state, indexed by key id and by order row number. */
export interface ReplayState {
  readonly keyState: Uint8Array;
  /** The holding order's row number (0: none; negative: an order with no row, see `ghosts`). */
  readonly keyOrder: Float64Array;
  readonly keySeq: Float64Array;
  /** 0: the ledger never named it. */
  readonly orderState: Uint8Array;
  readonly orderSeq: Float64Array;
}

export interface ReplayResult {
  /** Entries that are bad in themselves (impossible moves, damaged fields), in order, at most maxProblems. */
  readonly problems: { seq: number; reason: string }[];
  readonly firstBad: number | null;
  /** Orders the ledger names that have no row (deleted or renamed outside the app): [id, negative ref]. */
  readonly ghosts: [string, number][];
}

/** Allocates the state for keys 1..maxKey-1 and orders 1..maxOrder-1, shareable with a worker when `shared`. */
export function replayState(maxKey: number, maxOrder: number, shared: boolean): ReplayState {
  const Buf = shared ? SharedArrayBuffer : ArrayBuffer;
  return {
    keyState: new Uint8Array(new Buf(maxKey)),
    keyOrder: new Float64Array(new Buf(maxKey * 8)),
    keySeq: new Float64Array(new Buf(maxKey * 8)),
    orderState: new Uint8Array(new Buf(maxOrder)),
    orderSeq: new Float64Array(new Buf(maxOrder * 8)),
  };
}

/** Reads a batch's numbers in place: no string or array per row. */
export class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  /** The integer at the cursor; steps over the one separator after it. */
  int(): number {
    const text = this.text;
    let i = this.pos;
    let sign = 1;
    if (text.charCodeAt(i) === 45) {
      sign = -1;
      i++;
    }
    let n = 0;
    for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
    this.pos = i + 1;
    return sign * n;
  }

  /** The rest of this row (up to ';'), as text. */
  rest(): string {
    let end = this.text.indexOf(';', this.pos);
    if (end < 0) end = this.text.length;
    const part = this.text.slice(this.pos, end);
    this.pos = end + 1;
    return part;
  }

  get done(): boolean {
    return this.pos >= this.text.length;
  }
}

/** Replays entries 1..upTo into `state` (which must start zeroed). */
export function replayLedger(db: ReadableDB, state: ReplayState, upTo: number): ReplayResult {
  const { keyState, keyOrder, keySeq, orderState, orderSeq } = state;
  const maxKey = keyState.length;
  const problems: { seq: number; reason: string }[] = [];
  let firstBad: number | null = null;
  const fail = (seq: number, reason: string): void => {
    if (firstBad === null || seq < firstBad) firstBad = seq;
    if (problems.length < MAX_PROBLEMS) problems.push({ seq, reason });
  };
  const ghosts = new Map<string, number>();
  const orderIdOf = db.prepare('SELECT order_id FROM ledger WHERE seq = ?').pluck();
  const keyIdsOf = db.prepare('SELECT key_ids FROM ledger WHERE seq = ?').pluck();
  const batch = db.prepare(REPLAY_SQL).raw();
  const ranges: number[] = [];
  let after = 0;
  for (;;) {
    const [text, last, count] = batch.get(after, upTo, LEDGER_BATCH) as [string | null, number | null, number];
    if (count === 0 || text === null || last === null) break;
    after = last;
    const c = new Cursor(text);
    while (!c.done) {
      const seq = c.int();
      const kind = c.int();
      const keysTo = c.int();
      const orderTo = c.int();
      let orderRef = c.int();
      const keyIds = c.rest();
      if (keysTo === NOT_JSON) {
        fail(seq, 'its detail is not JSON');
        continue;
      }
      if (orderRef === -1) {
        const id = orderIdOf.get(seq) as string;
        let ref = ghosts.get(id);
        if (ref === undefined) ghosts.set(id, (ref = -(ghosts.size + 1)));
        orderRef = ref;
      }
      if (orderRef > 0 && orderState[orderRef] === 0) {
        orderState[orderRef] = 1; // an order is reserved when the ledger first names it
        orderSeq[orderRef] = seq;
      }
      if (keysTo !== 0) {
        if (keysTo === UNKNOWN) fail(seq, 'its detail moves keys to a state that does not exist');
        const from = ALLOWED_FROM[kind] ?? [];
        const holder = keysTo >= 2 && keysTo <= 4 ? orderRef : 0;
        try {
          if (keyIds === '!') keyIdRanges(keyIdsOf.get(seq) as string, ranges);
          else if (keyIds !== '' && !keyIds.includes(',') && !keyIds.includes('-')) {
            ranges.length = 0;
            ranges.push(Number(keyIds), Number(keyIds));
          } else keyIdRanges(keyIds, ranges);
        } catch (error) {
          fail(seq, `its key ids are damaged (${(error as Error).message})`);
          ranges.length = 0;
        }
        const to = keysTo === UNKNOWN ? 0 : keysTo;
        for (let r = 0; r < ranges.length; r += 2) {
          for (let id = ranges[r]!; id <= ranges[r + 1]!; id++) {
            if (id >= maxKey) {
              fail(seq, `it moves key ${id}, which no longer exists`);
              continue;
            }
            const current = keyState[id]!;
            if (!from.includes(current)) {
              fail(seq, `it moves key ${id} from ${KEY_NAMES[current]}, which a ${KIND_NAMES[kind]} cannot do`);
            } else if (current === 2 && kind !== BURN && keyOrder[id] !== orderRef) {
              fail(seq, `it moves key ${id}, held by another order`);
            }
            keyState[id] = to;
            keyOrder[id] = holder;
            keySeq[id] = seq;
          }
        }
      }
      if (orderTo !== 0 && orderRef !== 0) {
        if (orderTo === UNKNOWN) fail(seq, 'its detail moves its order to a state that does not exist');
        else if (orderRef > 0) {
          orderState[orderRef] = orderTo;
          orderSeq[orderRef] = seq;
        }
      }
    }
  }
  return { problems, firstBad, ghosts: [...ghosts] };
}
