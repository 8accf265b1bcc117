/**
 * A fake ipcMain/ipcRenderer pair joined like Electron joins them: `invoke` reaches the `handle`d
 * function, `send` the `on` listeners, and the main side's `sender.send` the renderer's listeners.
 * Every payload is structured-cloned, as IPC does, so nothing passes by reference. The frame URL the
 * main side sees is chosen by the test (our renderer's page, or a stranger's).
 */
import type { IpcRendererLike } from '../../src-main/electron/bridge';
import type { IpcEventLike, IpcMainLike, SenderLike } from '../../src-main/electron/ipc';

type MainListener = (event: IpcEventLike, ...args: unknown[]) => unknown;

export class FakeIpc {
  private readonly handlers = new Map<string, MainListener>();
  private readonly mainListeners = new Map<string, Set<MainListener>>();
  private readonly rendererListeners = new Map<string, Set<(event: unknown, ...args: unknown[]) => void>>();
  private readonly destroyedListeners = new Set<() => void>();
  private destroyed = false;
  private readonly sender: SenderLike;

  constructor(
    /** The URL of the frame the renderer side pretends to be. */
    public frameUrl: string,
    senderId = 1,
  ) {
    this.sender = this.makeSender(senderId);
  }

  private makeSender(id: number): SenderLike {
    return {
      id,
      send: (channel, ...args) => {
        const copies = structuredClone(args);
        for (const listener of this.rendererListeners.get(channel) ?? []) listener({}, ...copies);
      },
      isDestroyed: () => this.destroyed,
      once: (_event, listener) => this.destroyedListeners.add(listener),
    };
  }

  private event(): IpcEventLike {
    return { sender: this.sender, senderFrame: { url: this.frameUrl, parent: null } };
  }

  readonly main: IpcMainLike = {
    handle: (channel, listener) => {
      if (this.handlers.has(channel)) throw new Error(`a second handler for ${channel}`);
      this.handlers.set(channel, listener);
    },
    removeHandler: (channel) => this.handlers.delete(channel),
    on: (channel, listener) => {
      const set = this.mainListeners.get(channel) ?? new Set();
      set.add(listener);
      this.mainListeners.set(channel, set);
    },
    removeListener: (channel, listener) => this.mainListeners.get(channel)?.delete(listener),
  };

  readonly renderer: IpcRendererLike = {
    invoke: async (channel, ...args) => {
      const handler = this.handlers.get(channel);
      if (!handler) throw new Error(`No handler registered for '${channel}'`);
      return structuredClone(await handler(this.event(), ...structuredClone(args)));
    },
    send: (channel, ...args) => {
      for (const listener of this.mainListeners.get(channel) ?? []) listener(this.event(), ...structuredClone(args));
    },
    on: (channel, listener) => {
      const set = this.rendererListeners.get(channel) ?? new Set();
      set.add(listener);
      this.rendererListeners.set(channel, set);
    },
  };

  /** The window closes: main must stop sending to it. */
  destroy(): void {
    this.destroyed = true;
    for (const listener of this.destroyedListeners) listener();
  }

  get mainListenerCount(): number {
    return [...this.mainListeners.values()].reduce((sum, set) => sum + set.size, 0);
  }
}
