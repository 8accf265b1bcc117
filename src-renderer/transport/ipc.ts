/** The desktop transport: calls and events go through the preload's `window.oncekey` bridge (IPC). */
import type { OnceKeyBridge } from '../../shared/bridge';
import type { Input, MethodName, Output } from '../../shared/rpc';
import { unwrapReply } from './errors';
import type { Transport } from './types';

declare global {
  interface Window {
    /** Present only in the desktop app (src-main/electron/preload.ts). */
    readonly oncekey?: OnceKeyBridge;
  }
}

export function createIpcTransport(bridge: OnceKeyBridge): Transport {
  return {
    kind: 'ipc',
    async call<M extends MethodName>(method: M, input: Input<M>): Promise<Output<M>> {
      return unwrapReply(await bridge.call(method, input)) as Output<M>;
    },
    subscribe: (listener) => bridge.subscribe(listener),
  };
}
