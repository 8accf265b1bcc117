/**
 * The one object the desktop preload exposes to the renderer as `window.oncekey`, and the IPC channel
 * names behind it. The renderer sees only `call` and `subscribe`: no `ipcRenderer`, no Node.
 * src-main/electron/preload.ts implements it; src-renderer/transport/ipc.ts consumes it.
 */
import type { AppEvent, RpcReply } from './rpc';

export interface OnceKeyBridge {
  /** Runs one admin method in the main process; never rejects for a method's own failure (see RpcReply). */
  readonly call: (method: string, input: unknown) => Promise<RpcReply>;
  /** Live events from the main process; returns the unsubscribe function. */
  readonly subscribe: (listener: (event: AppEvent) => void) => () => void;
}

/** IPC channel names; the main process accepts these from our own renderer frame only. */
export const IPC_CHANNELS = {
  /** invoke: `(method: string, input: unknown) => RpcReply` */
  call: 'oncekey:call',
  /** send (renderer → main): start forwarding events to this window */
  subscribe: 'oncekey:subscribe',
  /** send (renderer → main): stop forwarding events to this window */
  unsubscribe: 'oncekey:unsubscribe',
  /** send (main → renderer): one AppEvent */
  event: 'oncekey:event',
} as const;
