/**
 * Claims made by concurrent buyers, as the engine and PostgreSQL benchmarks count them: `concurrent`
 * runs `count` claims with `concurrency` buyers at once (each awaits its claim before taking the next
 * number), stopping at `capMs`; a `Run` says how many were made in how many seconds.
 */

/** Claims made and the seconds they took; rounds of one measurement add up. */
export interface Run {
  claims: number;
  seconds: number;
}

export const newRun = (): Run => ({ claims: 0, seconds: 0 });

export const perSecond = (run: Run): number => run.claims / run.seconds;

/** Adds one round's run to a measurement's total. */
export function add(total: Run, run: Run): void {
  total.claims += run.claims;
  total.seconds += run.seconds;
}

/** Runs `count` claims through `claim` with `concurrency` buyers, stopping at `capMs`. */
export async function concurrent(
  count: number,
  concurrency: number,
  capMs: number,
  claim: (i: number) => Promise<unknown>,
): Promise<Run> {
  let next = 0;
  let done = 0;
  const start = performance.now();
  const end = start + capMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < end) {
        await claim(next++);
        done++;
      }
    }),
  );
  return { claims: done, seconds: (performance.now() - start) / 1000 };
}
