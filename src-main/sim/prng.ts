/** Small seeded pseudo-random numbers (mulberry32) and the draws the simulator makes from them. */
import type { ThinkTime } from '../../shared/sim';

export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes several integers into one 32-bit seed (so buyer 3's draws never depend on buyer 2's). */
export function mix(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x01000193) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995) >>> 0;
  }
  return h >>> 0;
}

export function drawThink(think: ThinkTime, rng: Rng): number {
  const max = Math.max(think.ms, think.maxMs);
  switch (think.kind) {
    case 'fixed':
      return think.ms;
    case 'uniform':
      return think.ms + (max - think.ms) * rng();
    case 'exponential':
      return Math.min(max, -think.ms * Math.log(1 - rng()));
  }
}
