/**
 * Group commit for PostgreSQL reservations: the reservations that arrive on one server while its
 * previous batch is in its transaction (or in the same turn of the event loop) run together in the next
 * transaction (pg/reserve.ts's reservePgMany), so the locks every purchase shares (a product's counters,
 * the ledger's chain) and the COMMIT are paid once per batch instead of once per order, as on SQLite
 * (engine/writer.ts). Each caller gets its own outcome. If a batch fails for a reason that is not a
 * refusal of the engine's, its requests run again one by one, so one bad request never fails its
 * neighbours.
 */
import type { ReserveOutcome, ReserveRequest, ReserveWrite } from '../engine/order-reserve';
import { isEngineError } from '../lib/errors';

interface Pending {
  readonly request: ReserveRequest;
  readonly resolve: (write: ReserveWrite) => void;
  readonly reject: (error: unknown) => void;
}

export class ReserveBatcher {
  private queue: Pending[] = [];
  private running = false;
  /** Batches run and requests in them (for the benchmark's report). */
  readonly stats = { batches: 0, requests: 0 };

  constructor(
    private readonly run: (requests: readonly ReserveRequest[]) => Promise<ReserveOutcome[]>,
    private readonly maxBatch = 64,
  ) {}

  submit(request: ReserveRequest): Promise<ReserveWrite> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      if (!this.running) {
        this.running = true;
        // Let the requests of this turn of the event loop join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.stats.batches++;
      this.stats.requests += batch.length;
      try {
        settle(batch, await this.run(batch.map((p) => p.request)));
      } catch (error) {
        if (batch.length === 1 || isEngineError(error)) {
          for (const p of batch) p.reject(error);
          continue;
        }
        for (const p of batch) {
          try {
            settle([p], await this.run([p.request]));
          } catch (alone) {
            p.reject(alone);
          }
        }
      }
    }
    this.running = false;
  }
}

function settle(batch: readonly Pending[], outcomes: readonly ReserveOutcome[]): void {
  batch.forEach((p, i) => {
    const outcome = outcomes[i];
    if (!outcome) p.reject(new Error('a batch returned fewer outcomes than requests'));
    else if (outcome.ok) p.resolve(outcome.value);
    else p.reject(outcome.error);
  });
}
