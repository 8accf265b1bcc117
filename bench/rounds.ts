/**
 * Figures from interleaved rounds. A benchmark that compares A with B runs them in turns (A, B, A, B,
 * ...) because the machine's speed drifts over seconds; each round gives one ratio, and the figure
 * reported is the median of those ratios with the lowest and highest beside it (`<key>_min`, `<key>_max`),
 * so a reader sees at once how far one run can be trusted. The table folds the two into the key's row.
 */

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The p-th percentile (0-100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const fixed = (n: number, digits: number): number => Number(n.toFixed(digits));

/** `{ key: median, key_min, key_max }` of per-round values, rounded to `digits` decimals. */
export function spread(key: string, values: readonly number[], digits = 3): Record<string, number> {
  return {
    [key]: fixed(median(values), digits),
    [`${key}_min`]: fixed(Math.min(...values), digits),
    [`${key}_max`]: fixed(Math.max(...values), digits),
  };
}

/** True for the `_min` / `_max` companions of a key that `spread` made. */
export function isSpreadKey(key: string, results: Record<string, unknown>): boolean {
  const base = key.replace(/_(min|max)$/, '');
  return base !== key && base in results && `${base}_min` in results && `${base}_max` in results;
}
