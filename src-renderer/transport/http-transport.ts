/**
 * Browser mode's transport: `POST <RPC_PATH>/<method>` with the input as JSON (the session cookie set at
 * login rides along, same origin only) and one shared EventSource on EVENTS_PATH for live events.
 *
 * The server answers a call with the RpcReply JSON (status 200, or the error code's status); failures
 * before the method runs (not signed in, body too large, a refused Origin) come as problem+json. Both
 * become the same TransportError(code) the IPC transport gives, so pages cannot tell the two apart.
 */
import { EVENTS_PATH, RPC_PATH, type AppEvent, type Input, type MethodName, type Output } from '../../shared/rpc';
import { isErrorCode, unwrapReply } from './errors';
import { TransportError, type Transport } from './types';

export interface HttpTransportOptions {
  /** Origin (and path prefix) of the endpoint; '' means this page's origin. */
  readonly baseUrl?: string;
  readonly fetch?: typeof fetch;
  /** EventSource constructor; tests without one pass a polyfill. */
  readonly EventSource?: EventSourceConstructor;
}

/** The part of EventSource this transport uses (so Node tests can pass a small polyfill). */
export interface EventSourceLike {
  onmessage: ((event: { readonly data: string }) => void) | null;
  close(): void;
}
export type EventSourceConstructor = new (url: string) => EventSourceLike;

function parseEvent(data: string): AppEvent | null {
  try {
    const event = JSON.parse(data) as unknown;
    return typeof event === 'object' && event !== null && typeof (event as { type?: unknown }).type === 'string'
      ? (event as AppEvent)
      : null;
  } catch {
    return null;
  }
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export function createHttpTransport(options: HttpTransportOptions = {}): Transport {
  const base = options.baseUrl ?? '';
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const EventSourceImpl = options.EventSource ?? (globalThis as unknown as { EventSource?: EventSourceConstructor }).EventSource;
  const listeners = new Set<(event: AppEvent) => void>();
  let source: EventSourceLike | null = null;

  return {
    kind: 'http',
    async call<M extends MethodName>(method: M, input: Input<M>): Promise<Output<M>> {
      let response: Response;
      try {
        response = await doFetch(`${base}${RPC_PATH}/${encodeURIComponent(method)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(input ?? {}),
          credentials: 'same-origin',
        });
      } catch (error) {
        throw new TransportError('busy', `cannot reach the shop engine (${(error as Error).message})`);
      }
      const body = await readBody(response);
      if (typeof body === 'object' && body !== null && 'ok' in body) return unwrapReply(body) as Output<M>;
      // problem+json from the endpoint's guards (auth, Host/Origin, body limit, malformed request)
      const problem = (body ?? {}) as { code?: unknown; detail?: unknown };
      const code = isErrorCode(problem.code) ? problem.code : response.status === 401 ? 'unauthorized' : 'internal_error';
      throw new TransportError(code, typeof problem.detail === 'string' ? problem.detail : `HTTP ${response.status}`);
    },
    subscribe(listener) {
      listeners.add(listener);
      if (source === null) {
        if (!EventSourceImpl) throw new Error('live events need EventSource (every browser has it)');
        source = new EventSourceImpl(`${base}${EVENTS_PATH}`);
        // EventSource reconnects by itself after a dropped connection.
        source.onmessage = (message) => {
          const event = parseEvent(message.data);
          if (event) for (const each of [...listeners]) each(event);
        };
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && source !== null) {
          source.close();
          source = null;
        }
      };
    },
  };
}
