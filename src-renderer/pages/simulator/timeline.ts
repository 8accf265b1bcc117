/**
 * Turns a history into what the timeline draws: per buyer, bars (think, lock wait, holding the lock)
 * and marks (read, write, commit, the answer), in the history's time unit. Pure, so it is tested alone
 * and computed once per history however often the canvas repaints.
 */
import type { HistoryEvent } from '../../../shared/sim';

export type BarKind = 'think' | 'wait' | 'lock';
export type MarkKind = 'read' | 'write' | 'commit' | 'ok' | 'oversold' | 'fail' | 'error' | 'unknown';

export interface BuyerRow {
  readonly buyer: number;
  start: number;
  end: number;
  readonly bars: { kind: BarKind; from: number; to: number }[];
  readonly marks: { kind: MarkKind; at: number; i: number }[];
}

export interface Timeline {
  readonly rows: BuyerRow[];
  readonly maxT: number;
  readonly sold: number;
  readonly oversold: number;
}

export function buildTimeline(events: readonly HistoryEvent[], stock: number): Timeline {
  const rows = new Map<number, BuyerRow>();
  const open = new Map<string, { think?: number; wait?: number; lock?: number }>();
  let sold = 0;
  let maxT = 0;
  const seenOrders = new Set<number>();
  for (const e of events) {
    maxT = Math.max(maxT, e.t);
    let row = rows.get(e.buyer);
    if (!row) {
      row = { buyer: e.buyer, start: e.t, end: e.t, bars: [], marks: [] };
      rows.set(e.buyer, row);
    }
    row.end = Math.max(row.end, e.t);
    const key = `${e.buyer}/${e.attempt}`;
    const state = open.get(key) ?? {};
    open.set(key, state);
    // Whatever comes next ends a think or a wait.
    if (state.think !== undefined && e.step !== 'think') {
      row.bars.push({ kind: 'think', from: state.think, to: e.t });
      state.think = undefined;
    }
    if (state.wait !== undefined && e.step !== 'lock_wait') {
      row.bars.push({ kind: 'wait', from: state.wait, to: e.t });
      state.wait = undefined;
    }
    switch (e.step) {
      case 'think':
        state.think = e.t;
        break;
      case 'lock_wait':
        state.wait ??= e.t;
        break;
      case 'begin':
        state.lock = e.t;
        break;
      case 'commit':
      case 'rollback':
        if (state.lock !== undefined) row.bars.push({ kind: 'lock', from: state.lock, to: e.t });
        state.lock = undefined;
        if (e.step === 'commit') row.marks.push({ kind: 'commit', at: e.t, i: e.i });
        break;
      case 'read':
        row.marks.push({ kind: 'read', at: e.t, i: e.i });
        break;
      case 'write':
        row.marks.push({ kind: 'write', at: e.t, i: e.i });
        break;
      case 'ok': {
        if (e.detail.afterResponse === true || e.detail.replayed === true) break;
        const orderId = typeof e.detail.orderId === 'number' ? e.detail.orderId : null;
        if (orderId !== null && seenOrders.has(orderId)) break;
        if (orderId !== null) seenOrders.add(orderId);
        sold += 1;
        row.marks.push({ kind: sold > stock ? 'oversold' : 'ok', at: e.t, i: e.i });
        break;
      }
      case 'fail':
        if (e.detail.afterResponse === true) break;
        row.marks.push({ kind: e.detail.reason === 'sold_out' ? 'fail' : 'error', at: e.t, i: e.i });
        break;
      case 'unknown':
        row.marks.push({ kind: 'unknown', at: e.t, i: e.i });
        break;
      default:
        break;
    }
  }
  const sorted = [...rows.values()].sort((a, b) => a.buyer - b.buyer);
  return { rows: sorted, maxT, sold, oversold: Math.max(0, sold - stock) };
}

/** Buckets values into `count` equal bins from 0 to the max: the latency histogram. */
export function histogram(values: readonly number[], count = 20): { from: number; to: number; n: number }[] {
  if (values.length === 0) return [];
  const max = Math.max(...values, 1e-9);
  const width = max / count;
  const bins = Array.from({ length: count }, (_, k) => ({ from: k * width, to: (k + 1) * width, n: 0 }));
  for (const v of values) {
    const bin = bins[Math.min(count - 1, Math.floor(v / width))];
    if (bin) bin.n += 1;
  }
  return bins;
}

/** Per buyer, from the first invoke to the first answer the client heard. */
export function latencies(events: readonly HistoryEvent[], scale: number): number[] {
  const start = new Map<number, number>();
  const out: number[] = [];
  const answered = new Set<number>();
  for (const e of events) {
    if (e.step === 'invoke' && !start.has(e.buyer)) start.set(e.buyer, e.t);
    if (
      (e.step === 'ok' || e.step === 'fail') &&
      e.detail.late !== true &&
      e.detail.afterResponse !== true &&
      !answered.has(e.buyer)
    ) {
      answered.add(e.buyer);
      out.push((e.t - (start.get(e.buyer) ?? e.t)) * scale);
    }
  }
  return out;
}

/** Answers per time bucket: throughput over time. */
export function throughput(events: readonly HistoryEvent[], scale: number, buckets = 30): { at: number; n: number }[] {
  const answers = events
    .filter((e) => (e.step === 'ok' || e.step === 'fail') && e.detail.afterResponse !== true)
    .map((e) => e.t * scale);
  if (answers.length === 0) return [];
  const max = Math.max(...answers, 1e-9);
  const width = max / buckets;
  const out = Array.from({ length: buckets }, (_, k) => ({ at: Math.round((k + 1) * width * 10) / 10, n: 0 }));
  for (const a of answers) {
    const slot = out[Math.min(buckets - 1, Math.floor(a / width))];
    if (slot) slot.n += 1;
  }
  return out;
}
