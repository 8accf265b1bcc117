/**
 * Order tickets: what a new order needs that costs crypto (its id, its access token and the token's hash,
 * the token sealed for the idempotency record that replays the answer), about 10 us an order. Under a
 * purchase storm that is a fifth of the engine thread's time per purchase, and none of it depends on the
 * request, so a worker thread makes tickets ahead of time in batches and the engine takes them from a
 * pool. The token is sealed under the order's id (not the request's idempotency key) for that reason.
 *
 * A process that makes few orders (the CLI, most tests) never starts the thread: the pool makes its
 * first `startAfter` tickets inline, and it goes on making them inline whenever it runs dry or the
 * thread cannot start or dies. Every ticket is handed out once.
 *
 * Tickets travel from the thread packed in one transferred buffer of fixed-size records, so taking one
 * costs two short string decodes and two buffer views instead of a structured clone per ticket.
 */
import { type Worker, workerData, parentPort } from 'node:worker_threads';
import { startModuleWorker } from '../lib/module-worker';
import { seal } from '../vault/crypto';
import { newAccessToken, newId, sha256 } from './ids';

export interface OrderTicket {
  readonly orderId: string;
  /** Shown to the buyer once, in the answer to the order's creation; stored only as `tokenHash` and `sealedToken`. */
  readonly accessToken: string;
  readonly tokenHash: Buffer;
  /** The access token sealed under `orderTokenAad(orderId)`, for the idempotency record. */
  readonly sealedToken: Buffer;
}

/** The associated data that ties a sealed access token to its order. */
export const orderTokenAad = (orderId: string): string => `oncekey/order/${orderId}/access-token`;

export function makeTicket(sealKey: Buffer): OrderTicket {
  const orderId = newId('ord', 16);
  const accessToken = newAccessToken();
  return {
    orderId,
    accessToken,
    tokenHash: sha256(accessToken),
    sealedToken: seal(sealKey, accessToken, orderTokenAad(orderId)),
  };
}

// A packed ticket: order id (35 ASCII chars: "ord_", 9 time digits, 22 base64url), access token (43
// base64url chars for 32 bytes), the token's SHA-256, the sealed token (version, IV, tag, 43 bytes).
const ID_CHARS = 35;
const TOKEN_CHARS = 43;
const HASH_BYTES = 32;
const SEALED_BYTES = 1 + 12 + 16 + TOKEN_CHARS;
const RECORD_BYTES = ID_CHARS + TOKEN_CHARS + HASH_BYTES + SEALED_BYTES;

/** `count` new tickets packed into one buffer (what the thread sends). */
export function packTickets(sealKey: Buffer, count: number): Buffer {
  const packed = Buffer.alloc(count * RECORD_BYTES);
  for (let i = 0, at = 0; i < count; i++, at += RECORD_BYTES) {
    const ticket = makeTicket(sealKey);
    if (
      ticket.orderId.length !== ID_CHARS ||
      ticket.accessToken.length !== TOKEN_CHARS ||
      ticket.sealedToken.length !== SEALED_BYTES
    ) {
      throw new Error('a ticket does not fit its packed record');
    }
    packed.write(ticket.orderId, at, 'latin1');
    packed.write(ticket.accessToken, at + ID_CHARS, 'latin1');
    ticket.tokenHash.copy(packed, at + ID_CHARS + TOKEN_CHARS);
    ticket.sealedToken.copy(packed, at + ID_CHARS + TOKEN_CHARS + HASH_BYTES);
  }
  return packed;
}

/** The `index`-th ticket of a packed buffer; its buffers are views into `packed`. */
export function unpackTicket(packed: Buffer, index: number): OrderTicket {
  const at = index * RECORD_BYTES;
  const hashAt = at + ID_CHARS + TOKEN_CHARS;
  return {
    orderId: packed.toString('latin1', at, at + ID_CHARS),
    accessToken: packed.toString('latin1', at + ID_CHARS, hashAt),
    tokenHash: packed.subarray(hashAt, hashAt + HASH_BYTES),
    sealedToken: packed.subarray(hashAt + HASH_BYTES, at + RECORD_BYTES),
  };
}

export const packedCount = (packed: Buffer): number => packed.length / RECORD_BYTES;

export interface TicketPoolOptions {
  /** Tickets made inline before the thread starts (Infinity: never start it). */
  readonly startAfter?: number;
  /** Tickets the thread makes per request; a new request goes out when the pool falls below this many. */
  readonly batch?: number;
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './tickets.ts' : './ticket-worker.js', import.meta.url);

export class TicketPool {
  /** Packed batches not yet handed out, oldest first; `next` indexes the first one. */
  private readonly batches: Buffer[] = [];
  private next = 0;
  private available = 0;
  private taken = 0;
  private worker: Worker | null = null;
  private requested = false;
  private failed = false;
  private readonly startAfter: number;
  private readonly batch: number;

  constructor(
    private readonly sealKey: Buffer,
    options: TicketPoolOptions = {},
  ) {
    this.startAfter = options.startAfter ?? 256;
    this.batch = options.batch ?? 1024;
  }

  /** A ticket no one else gets: from the thread's batches, or made now. */
  take(): OrderTicket {
    this.taken++;
    const packed = this.batches[0];
    if (packed === undefined) {
      this.refill();
      return makeTicket(this.sealKey);
    }
    const ticket = unpackTicket(packed, this.next++);
    this.available--;
    if (this.next === packedCount(packed)) {
      this.batches.shift();
      this.next = 0;
    }
    if (this.available < this.batch) this.refill();
    return ticket;
  }

  /** Tickets the pool holds ready (tests and benchmarks). */
  get ready(): number {
    return this.available;
  }

  private refill(): void {
    if (this.requested || this.failed) return;
    if (!this.worker) {
      if (this.taken < this.startAfter) return;
      this.start();
      if (!this.worker) return;
    }
    this.requested = true;
    this.worker.postMessage(this.batch);
  }

  private start(): void {
    try {
      const worker = startModuleWorker(WORKER_URL, { ticketWorker: true, sealKey: new Uint8Array(this.sealKey) });
      worker.on('message', (packed: Uint8Array) => {
        this.requested = false;
        if (this.failed) return;
        const buffer = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
        this.batches.push(buffer);
        this.available += packedCount(buffer);
      });
      const fail = (): void => {
        this.failed = true;
        this.worker = null;
      };
      worker.on('error', fail);
      worker.on('exit', fail);
      // After the listeners (adding one refs the worker again): the pool never keeps a process alive.
      worker.unref();
      this.worker = worker;
    } catch {
      this.failed = true;
    }
  }

  /** Stops the thread; tickets still in the pool are dropped. */
  async close(): Promise<void> {
    this.failed = true;
    this.batches.length = 0;
    this.available = 0;
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }
}

// The thread: makes a batch of tickets per request and sends it back, its buffer transferred.
const data = workerData as { ticketWorker?: boolean; sealKey: Uint8Array } | null;
if (data?.ticketWorker === true && parentPort) {
  const port = parentPort;
  const sealKey = Buffer.from(data.sealKey);
  port.on('message', (count: number) => {
    const packed = packTickets(sealKey, count);
    // Buffer.alloc gives the batch an ArrayBuffer of its own (never the shared pool), so it can move.
    port.postMessage(packed, [packed.buffer as ArrayBuffer]);
  });
}
