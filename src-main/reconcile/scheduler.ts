/**
 * Scheduled reconciliation inside the running app: reconciles now and then every `intervalMs` (the next
 * run is scheduled when the previous one finished, so runs never overlap), and tells live pages through
 * engine.events `{type: 'findings', open, new}` when findings appear that the previous run did not have,
 * or when the number of open findings changed. The timer does not keep the process alive.
 *
 * The desktop shell and browser mode call `startReconcileScheduler(engine, intervalMs)` after the engine
 * opens and `stop()` before it closes.
 */
import type { Engine } from '../engine/engine';
import { runReconcile } from './service';

export interface ReconcileScheduler {
  /** Runs once now (also between ticks); resolves with the open and new counts. */
  runNow(): Promise<{ open: number; new: number }>;
  stop(): void;
}

export interface SchedulerOptions {
  /** Replay the ledger on every run (default true; it is the costliest detector). */
  readonly ledger?: boolean;
  readonly onError?: (error: unknown) => void;
}

export const DEFAULT_RECONCILE_INTERVAL_MS = 10 * 60_000;

export function startReconcileScheduler(
  engine: Engine,
  intervalMs = DEFAULT_RECONCILE_INTERVAL_MS,
  options: SchedulerOptions = {},
): ReconcileScheduler {
  if (!Number.isFinite(intervalMs) || intervalMs < 1) throw new RangeError('the reconciliation interval must be at least 1 ms');
  let known: Set<string> | null = null;
  let lastOpen = 0;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let running: Promise<{ open: number; new: number }> | null = null;

  const once = async (): Promise<{ open: number; new: number }> => {
    const report = await runReconcile(engine, { ledger: options.ledger ?? true });
    const open = new Set(report.findings.filter((f) => f.status === 'open').map((f) => f.id));
    const openCount = Object.values(report.counts).reduce((n, c) => n + c.open, 0);
    let fresh = 0;
    for (const id of open) if (!known?.has(id)) fresh++;
    known = open;
    if (fresh > 0 || openCount !== lastOpen) engine.events.emit({ type: 'findings', open: openCount, new: fresh });
    lastOpen = openCount;
    return { open: openCount, new: fresh };
  };

  const runNow = (): Promise<{ open: number; new: number }> => {
    // Let a queued write commit first; never two runs at once.
    running ??= new Promise<void>((resolve) => setImmediate(resolve)).then(once).finally(() => {
      running = null;
    });
    return running;
  };

  const tick = (): void => {
    runNow()
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(tick, intervalMs);
        timer.unref();
      });
  };
  tick();

  return {
    runNow,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
