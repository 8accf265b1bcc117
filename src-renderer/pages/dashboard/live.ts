/**
 * Live refresh for the stock pages: runs `refresh` once, shortly after a burst of `stock`/`order` events
 * (a storm of purchases sends hundreds a second; the page reloads once per quiet gap, not per event).
 */
import { useEffect, useRef } from 'react';
import type { AppEvent } from '../../../shared/rpc';
import { useLive } from '../../hooks/useLive';

export const LIVE_DEBOUNCE_MS = 250;
/** Even during a continuous storm, refresh at least this often. */
export const LIVE_MAX_WAIT_MS = 2000;

export function useDebouncedLive(
  types: readonly AppEvent['type'][],
  refresh: (events: readonly AppEvent[]) => void,
  delayMs = LIVE_DEBOUNCE_MS,
): void {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const firstAt = useRef<number | null>(null);
  const pending = useRef<AppEvent[]>([]);
  const latest = useRef(refresh);
  latest.current = refresh;

  useEffect(
    () => () => {
      if (timer.current !== null) clearTimeout(timer.current);
    },
    [],
  );

  useLive((event) => {
    pending.current.push(event);
    const now = Date.now();
    firstAt.current ??= now;
    if (timer.current !== null) clearTimeout(timer.current);
    const wait = Math.max(0, Math.min(delayMs, firstAt.current + LIVE_MAX_WAIT_MS - now));
    timer.current = setTimeout(() => {
      timer.current = null;
      firstAt.current = null;
      const events = pending.current;
      pending.current = [];
      latest.current(events);
    }, wait);
  }, types);
}
