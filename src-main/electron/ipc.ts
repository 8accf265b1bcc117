/**
 * The main-process half of the desktop IPC: `oncekey:call` runs one admin method through the shared
 * Dispatcher and answers an RpcReply; `oncekey:subscribe`/`unsubscribe` start and stop forwarding the
 * engine's AppEvents to that window. Every message is checked first: it must come from the top frame
 * of our own renderer page (`isTrusted(frameUrl)`), else it is dropped and the call refused.
 *
 * Written against small ipcMain-like interfaces, so tests run it without Electron.
 */
import { IPC_CHANNELS } from '../../shared/bridge';
import type { RpcReply } from '../../shared/rpc';
import type { Engine } from '../engine/engine';
import { Dispatcher, sqliteContext, type Handlers } from '../rpc/dispatcher';
import { HANDLERS } from '../rpc/handlers';

export interface SenderLike {
  readonly id: number;
  send(channel: string, ...args: unknown[]): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
}

export interface IpcEventLike {
  readonly sender: SenderLike;
  /** The frame that sent the message (null once it navigated away or was destroyed). */
  readonly senderFrame: { readonly url: string; readonly parent: unknown } | null;
}

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => Promise<unknown>): void;
  removeHandler(channel: string): void;
  on(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: IpcEventLike, ...args: unknown[]) => void): unknown;
}

export interface IpcOptions {
  readonly engine: Engine;
  /** True only for our renderer's page URL (see trustedPage). */
  readonly isTrusted: (frameUrl: string) => boolean;
  readonly handlers?: Handlers;
  readonly onUnexpected?: (method: string, error: unknown) => void;
  /** A message from elsewhere was refused (logged by the shell). */
  readonly onRefused?: (channel: string, frameUrl: string) => void;
}

/** A frame URL check for one page: same protocol, host and path; query and hash may differ. */
export function trustedPage(pageUrl: string): (frameUrl: string) => boolean {
  const trusted = new URL(pageUrl);
  return (frameUrl) => {
    try {
      const url = new URL(frameUrl);
      return url.protocol === trusted.protocol && url.host === trusted.host && url.pathname === trusted.pathname;
    } catch {
      return false;
    }
  };
}

const REFUSED: RpcReply = { ok: false, error: { code: 'unauthorized', message: 'this frame may not call the admin API' } };

/** Registers the handlers; returns the function that removes them and stops every forwarding. */
export function registerIpc(ipcMain: IpcMainLike, options: IpcOptions): () => void {
  const dispatcher = new Dispatcher(options.handlers ?? HANDLERS, options.onUnexpected);
  const forwarding = new Map<number, () => void>();

  const trusted = (event: IpcEventLike, channel: string): boolean => {
    const frame = event.senderFrame;
    // Top frame only: an iframe inside our page (there are none) would not be trusted either.
    const ok = frame !== null && frame.parent === null && options.isTrusted(frame.url);
    if (!ok) options.onRefused?.(channel, frame?.url ?? '(no frame)');
    return ok;
  };

  ipcMain.handle(IPC_CHANNELS.call, async (event, method, input) => {
    if (!trusted(event, IPC_CHANNELS.call)) return REFUSED;
    if (typeof method !== 'string')
      return { ok: false, error: { code: 'bad_request', message: 'the method name must be a string' } } satisfies RpcReply;
    return dispatcher.dispatch(method, input, sqliteContext(options.engine, 'desktop'));
  });

  const stop = (senderId: number): void => {
    forwarding.get(senderId)?.();
    forwarding.delete(senderId);
  };
  const onSubscribe = (event: IpcEventLike): void => {
    if (!trusted(event, IPC_CHANNELS.subscribe)) return;
    const sender = event.sender;
    if (forwarding.has(sender.id)) return;
    const unsubscribe = options.engine.events.subscribe((appEvent) => {
      if (sender.isDestroyed()) stop(sender.id);
      else sender.send(IPC_CHANNELS.event, appEvent);
    });
    forwarding.set(sender.id, unsubscribe);
    sender.once('destroyed', () => stop(sender.id));
  };
  const onUnsubscribe = (event: IpcEventLike): void => {
    if (!trusted(event, IPC_CHANNELS.unsubscribe)) return;
    stop(event.sender.id);
  };
  ipcMain.on(IPC_CHANNELS.subscribe, onSubscribe);
  ipcMain.on(IPC_CHANNELS.unsubscribe, onUnsubscribe);

  return () => {
    ipcMain.removeHandler(IPC_CHANNELS.call);
    ipcMain.removeListener(IPC_CHANNELS.subscribe, onSubscribe);
    ipcMain.removeListener(IPC_CHANNELS.unsubscribe, onUnsubscribe);
    for (const id of [...forwarding.keys()]) stop(id);
  };
}
