/**
 * A transport for component and store tests: each method answers from a handler the test gives, with
 * the same input validation and error codes as the real dispatcher; `emit` plays a live event; `calls`
 * records what the page asked for. Outputs are checked against the method's schema, so a fixture that
 * drifts from the contract fails loudly instead of testing a shape the app never sees.
 */
import { isMethodName, METHODS, type AppEvent, type Input, type MethodName, type Output } from '../../shared/rpc';
import { TransportError, type Transport } from './types';

export type FakeHandler<M extends MethodName> = (input: Input<M>) => Output<M> | Promise<Output<M>>;
export type FakeHandlers = { [M in MethodName]?: FakeHandler<M> };

export interface FakeTransport extends Transport {
  /** Sends a live event to every subscriber. */
  emit(event: AppEvent): void;
  /** Every call made so far, in order. */
  readonly calls: { readonly method: MethodName; readonly input: unknown }[];
  /** Replaces or adds handlers. */
  handle(handlers: FakeHandlers): void;
  readonly subscriberCount: number;
}

export function createFakeTransport(initial: FakeHandlers = {}): FakeTransport {
  const handlers: FakeHandlers = { ...initial };
  const listeners = new Set<(event: AppEvent) => void>();
  const calls: { method: MethodName; input: unknown }[] = [];
  return {
    kind: 'fake',
    calls,
    get subscriberCount() {
      return listeners.size;
    },
    handle(more) {
      Object.assign(handlers, more);
    },
    async call<M extends MethodName>(method: M, input: Input<M>): Promise<Output<M>> {
      calls.push({ method, input });
      if (!isMethodName(method)) throw new TransportError('not_found', `unknown method "${String(method)}"`);
      const parsed = METHODS[method].input.safeParse(input ?? {});
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
        throw new TransportError('validation_failed', `${where}${issue?.message ?? 'invalid input'}`);
      }
      const handler: FakeHandler<M> | undefined = handlers[method];
      if (!handler) throw new TransportError('not_found', `the fake transport has no handler for "${method}"`);
      const value = await handler(input);
      const checked = METHODS[method].output.safeParse(value);
      if (!checked.success)
        throw new Error(
          `fake handler for ${method} returned a value that does not match its output schema: ${checked.error.message}`,
        );
      return value;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit(event) {
      for (const listener of [...listeners]) listener(event);
    },
  };
}
