/** OnceKey's one error type, used by every layer: a stable code from shared/errors plus a sentence for people. */
import type { ErrorCode, ErrorInfo } from '../../shared/errors';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
  }

  toInfo(): ErrorInfo {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isEngineError(error: unknown): error is EngineError {
  return error instanceof EngineError;
}
