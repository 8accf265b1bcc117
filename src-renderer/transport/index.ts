/**
 * The one place that picks the transport: IPC when the desktop preload exposed `window.oncekey`, HTTP
 * (browser mode) otherwise. Components reach it with `useTransport()`; the App provides it.
 */
import { createContext, useContext } from 'react';
import { createHttpTransport } from './http-transport';
import { createIpcTransport } from './ipc';
import type { Transport } from './types';

export { TransportError, type Transport } from './types';

export function createTransport(): Transport {
  const bridge = typeof window !== 'undefined' ? window.oncekey : undefined;
  return bridge ? createIpcTransport(bridge) : createHttpTransport();
}

export const TransportContext = createContext<Transport | null>(null);

/** The app's transport; throws outside <App> (or a test's TransportContext.Provider). */
export function useTransport(): Transport {
  const transport = useContext(TransportContext);
  if (transport === null) throw new Error('useTransport() needs a TransportContext.Provider (the App provides one)');
  return transport;
}
