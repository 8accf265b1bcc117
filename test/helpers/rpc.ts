/**
 * The admin app's RPC methods called as the app calls them: through the real Dispatcher (input
 * validated, errors keeping their stable codes), in a given context (a shop on either backend, an actor).
 */
import type { ErrorInfo } from '../../shared/errors';
import type { MethodName, Output, RpcReply } from '../../shared/rpc';
import { Dispatcher, type RpcContext } from '../../src-main/rpc/dispatcher';
import { HANDLERS } from '../../src-main/rpc/handlers';

export interface RpcClient {
  readonly dispatch: (method: MethodName, input: unknown) => Promise<RpcReply>;
  /** The method's value; its failure thrown as an Error carrying the code. */
  readonly call: <M extends MethodName>(method: M, input: unknown) => Promise<Output<M>>;
  /** The method's failure; throws when it succeeded. */
  readonly fails: (method: MethodName, input: unknown) => Promise<ErrorInfo>;
}

export function rpcClient(context: RpcContext | (() => RpcContext), options: { strict?: boolean } = {}): RpcClient {
  // Strict: a handler failing in a way it did not mean to (internal_error) fails the test with its cause.
  const dispatcher = options.strict
    ? new Dispatcher(HANDLERS, (method, error) => {
        throw new Error(`${method} failed unexpectedly: ${String(error)}`);
      })
    : new Dispatcher(HANDLERS);
  const ctx = typeof context === 'function' ? context : () => context;
  const dispatch = (method: MethodName, input: unknown) => dispatcher.dispatch(method, input, ctx());
  return {
    dispatch,
    call: async <M extends MethodName>(method: M, input: unknown): Promise<Output<M>> => {
      const reply = await dispatch(method, input);
      if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
      return reply.value as Output<M>;
    },
    fails: async (method: MethodName, input: unknown): Promise<ErrorInfo> => {
      const reply = await dispatch(method, input);
      if (reply.ok) throw new Error(`${method} should have failed`);
      return reply.error;
    },
  };
}
