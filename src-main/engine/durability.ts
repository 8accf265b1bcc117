/**
 * Which of its two ways the group-commit writer (writer.ts) makes a batch durable: FULL (SQLite's own
 * flush, inline) or pipelined (a NORMAL commit and an off-loop flush of the `-wal` file).
 *
 * Which one pays depends on the disk. Pipelining costs a hand-over to the thread pool and a wake-up of
 * the loop per batch (on a VM whose flush takes 0.2-0.5 ms, about 15-25% more CPU per order at 64
 * connections); it gives the loop the whole flush, which on a desktop's disk (a consumer SSD's cache
 * flush, macOS's F_FULLFSYNC) takes milliseconds. So 'auto' (the default) measures: it pipelines while
 * the flushes it times average SLOW_FLUSH_MS or more, commits FULL otherwise, and pipelines one batch in
 * PROBE_EVERY to keep measuring. 'pipelined' and 'full' fix the choice (tests, the benchmark's
 * comparison). If a pipelined flush fails, its writes fail (their outcome on disk is unknown: a retry
 * with the same idempotency key finds out) and the writer stays FULL for good.
 */

export type Durability = 'auto' | 'pipelined' | 'full';

/** Under 'auto', pipeline while the timed flushes average this long or more (ms). */
export const SLOW_FLUSH_MS = 2;
/** Under 'auto' with fast flushes, one batch in this many is pipelined to time the flush again. */
export const PROBE_EVERY = 256;

/** The writer's durability now ('full' after a failed flush), and batch by batch whether to pipeline. */
export class DurabilityChoice {
  /** FULL batches since the last pipelined one (under 'auto'). */
  private sinceProbe = 0;

  constructor(public mode: Durability) {}

  /** Whether the next batch commits pipelined, given the pipelined flushes' moving average (ms; null before the first). */
  pipelineNext(flushMs: number | null): boolean {
    if (this.mode !== 'auto') return this.mode === 'pipelined';
    if (flushMs === null || flushMs >= SLOW_FLUSH_MS) return true;
    if (++this.sinceProbe < PROBE_EVERY) return false;
    this.sinceProbe = 0;
    return true;
  }
}
