/**
 * Subscribes a component to the main process's live events (IPC in the desktop app, server-sent events
 * in browser mode) for as long as it is mounted. The latest `listener` is always the one called, so an
 * inline arrow function does not resubscribe on every render.
 *
 *   useLive((event) => { if (event.type === 'stock') void refresh(); }, ['stock']);
 */
import { useEffect, useRef } from 'react';
import type { AppEvent } from '../../shared/rpc';
import { useTransport } from '../transport';

export function useLive(listener: (event: AppEvent) => void, types?: readonly AppEvent['type'][]): void {
  const transport = useTransport();
  const latest = useRef(listener);
  latest.current = listener;
  const typeKey = types ? [...types].sort().join(',') : '*';
  useEffect(() => {
    const wanted = typeKey === '*' ? null : new Set(typeKey.split(','));
    return transport.subscribe((event) => {
      if (wanted === null || wanted.has(event.type)) latest.current(event);
    });
  }, [transport, typeKey]);
}
