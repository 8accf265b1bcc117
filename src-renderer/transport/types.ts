/**
 * How the renderer reaches the main process: one interface, two implementations (IPC in the desktop
 * app, HTTP + server-sent events in browser mode), chosen once in transport/index.ts. Pages and stores
 * only ever see this interface, so they run unchanged on either, and tests give them a fake.
 */
import type { ErrorCode } from '../../shared/errors';
import type { AppEvent, Input, MethodName, Output } from '../../shared/rpc';

export interface Transport {
  readonly kind: 'ipc' | 'http' | 'fake';
  /** Calls one admin method; rejects with a TransportError that keeps the stable error code. */
  call<M extends MethodName>(method: M, input: Input<M>): Promise<Output<M>>;
  /** Live events from the main process; returns the unsubscribe function. */
  subscribe(listener: (event: AppEvent) => void): () => void;
}

export class TransportError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}
