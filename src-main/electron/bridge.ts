/**
 * The renderer-side half of the desktop IPC, free of Electron so tests can wire it to a fake
 * ipcRenderer: turns `call`/`subscribe` into the channels of shared/bridge.ts. preload.ts hands the
 * result to contextBridge; nothing else of ipcRenderer reaches the page.
 */
import { IPC_CHANNELS, type OnceKeyBridge } from '../../shared/bridge';
import type { AppEvent, RpcReply } from '../../shared/rpc';

/** The part of Electron's ipcRenderer the bridge uses. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  send(channel: string, ...args: unknown[]): void;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

export function createBridge(ipc: IpcRendererLike): OnceKeyBridge {
  const listeners = new Set<(event: AppEvent) => void>();
  ipc.on(IPC_CHANNELS.event, (_event, payload) => {
    for (const listener of [...listeners]) listener(payload as AppEvent);
  });
  return {
    call: async (method, input) => (await ipc.invoke(IPC_CHANNELS.call, String(method), input)) as RpcReply,
    subscribe: (listener) => {
      if (typeof listener !== 'function') throw new TypeError('subscribe needs a function');
      listeners.add(listener);
      // The main process forwards events to this window only while someone here listens.
      if (listeners.size === 1) ipc.send(IPC_CHANNELS.subscribe);
      return () => {
        if (listeners.delete(listener) && listeners.size === 0) ipc.send(IPC_CHANNELS.unsubscribe);
      };
    },
  };
}
