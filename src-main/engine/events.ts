/**
 * What the engine tells listeners after a write has committed: the desktop shell forwards these over
 * IPC and browser mode as server-sent events, so a purchase arriving over HTTP shows up in the admin
 * pages without a reload. Emitted only after the commit returned, never for a rolled-back write.
 */
import { EventEmitter } from 'node:events';
import type { AppEvent } from '../../shared/rpc';

export class EngineEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every open admin window or browser tab is one listener.
    this.emitter.setMaxListeners(100);
  }

  emit(event: AppEvent): void {
    this.emitter.emit('event', event);
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (event: AppEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
