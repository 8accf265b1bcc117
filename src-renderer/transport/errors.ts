/** Turns an RpcReply (either transport) into a value or a TransportError that keeps the stable code. */
import { ERROR_CODES, type ErrorCode } from '../../shared/errors';
import type { RpcReply } from '../../shared/rpc';
import { TransportError } from './types';

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The value of an ok reply; throws TransportError for an error reply or anything that is not a reply. */
export function unwrapReply(reply: unknown): unknown {
  if (typeof reply !== 'object' || reply === null || !('ok' in reply)) {
    throw new TransportError('internal_error', 'the main process sent an answer that is not an RPC reply');
  }
  const typed = reply as RpcReply;
  if (typed.ok) return typed.value;
  const code = isErrorCode(typed.error.code) ? typed.error.code : 'internal_error';
  throw new TransportError(code, typeof typed.error.message === 'string' ? typed.error.message : code);
}
