/**
 * Several servers of one PostgreSQL shop see each other's changes live: what one server's shop emits
 * (an order, stock moving, an import's progress, findings) is published with PostgreSQL's NOTIFY on the
 * channel `oncekey_events`, and every server that listens re-emits what the others published to its
 * own listeners (the admin app's server-sent events), so a sale on one host moves the Dashboard open on
 * another.
 *
 * The events only say what to refresh, never what changed, so they may be coalesced and may be lost:
 * a server publishes what it emitted in the last 200 ms in one notification (the latest event per
 * order, product and kind), and a listener that lost its connection reconnects and misses what was sent
 * meanwhile (the pages reload their data on any later event, or on demand). Publishing is one short
 * statement per 200 ms at most, off the purchase's own transaction.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { AppEvent } from '../../shared/rpc';
import type { EngineEvents } from '../engine/events';

export const EVENTS_CHANNEL = 'oncekey_events';
const FLUSH_MS = 200;
/** NOTIFY's payload must stay under 8000 bytes. */
const MAX_PAYLOAD = 7_000;

interface Notice {
  /** The publishing server, so it does not hear itself. */
  readonly o: string;
  readonly e: AppEvent[];
}

const keyOf = (event: AppEvent): string => {
  switch (event.type) {
    case 'order':
      return `order:${event.orderId}`;
    case 'stock':
      return `stock:${event.productId}`;
    case 'import':
      return `import:${event.productId}`;
    case 'findings':
      return 'findings';
  }
};

export class PgEventRelay {
  private readonly origin = randomUUID();
  private readonly pending = new Map<string, AppEvent>();
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private listener: pg.Client | null = null;
  private listening = false;
  private closed = false;
  /** True while re-emitting a peer's events: those are not published again. */
  private relaying = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly events: EngineEvents,
  ) {
    this.unsubscribe = events.subscribe((event) => {
      if (!this.relaying && !this.closed) this.publish(event);
    });
  }

  /** Re-emits the other servers' events here from now on (a connection of its own, reopened when lost). */
  async listen(): Promise<void> {
    if (this.listening) return;
    this.listening = true;
    await this.connect();
  }

  private async connect(): Promise<void> {
    for (let delay = 500; !this.closed; delay = Math.min(delay * 2, 10_000)) {
      const client = new pg.Client({ connectionString: this.url });
      client.on('error', () => this.lost(client));
      client.on('notification', (message) => this.received(message.payload));
      try {
        await client.connect();
        await client.query(`LISTEN ${EVENTS_CHANNEL}`);
        if (this.closed) {
          await client.end().catch(() => undefined);
          return;
        }
        this.listener = client;
        client.on('end', () => this.lost(client));
        return;
      } catch {
        await client.end().catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private lost(client: pg.Client): void {
    if (this.listener !== client) return;
    this.listener = null;
    client.end().catch(() => undefined);
    if (!this.closed) void this.connect();
  }

  private received(payload: string | undefined): void {
    let notice: Notice;
    try {
      notice = JSON.parse(payload ?? '') as Notice;
    } catch {
      return;
    }
    if (notice.o === this.origin || !Array.isArray(notice.e)) return;
    this.relaying = true;
    try {
      for (const event of notice.e) this.events.emit(event);
    } finally {
      this.relaying = false;
    }
  }

  private publish(event: AppEvent): void {
    const key = keyOf(event);
    this.pending.delete(key);
    this.pending.set(key, event);
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, FLUSH_MS);
  }

  /** Sends what is pending (one notification per ~7 kB of events). */
  private async flush(): Promise<void> {
    await this.flushing;
    const events = [...this.pending.values()];
    this.pending.clear();
    if (events.length === 0) return;
    const batches: AppEvent[][] = [[]];
    let size = 0;
    for (const event of events) {
      const length = JSON.stringify(event).length + 1;
      if (size + length > MAX_PAYLOAD && batches.at(-1)!.length > 0) {
        batches.push([]);
        size = 0;
      }
      batches.at(-1)!.push(event);
      size += length;
    }
    this.flushing = (async () => {
      for (const batch of batches) {
        const notice: Notice = { o: this.origin, e: batch };
        await this.pool.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, JSON.stringify(notice)]).catch(() => undefined);
      }
    })();
    await this.flushing;
  }

  /** Publishes what is pending, stops listening. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    this.closed = true;
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => undefined);
  }
}
