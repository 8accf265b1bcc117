/**
 * Stable error codes shared by the engine, the HTTP endpoint and the renderer.
 * A code is part of the public contract (problem+json `code`, CLI `--json` output): never rename one.
 */
export const ERROR_CODES = {
  validation_failed: 422,
  product_not_found: 404,
  order_not_found: 404,
  sold_out: 409,
  idempotency_key_missing: 400,
  idempotency_key_reused: 422,
  idempotency_key_in_flight: 409,
  order_not_payable: 409,
  order_not_refundable: 409,
  order_not_releasable: 409,
  import_rejected: 422,
  import_not_found: 404,
  vault_locked: 423,
  busy: 503,
  unauthorized: 401,
  host_not_allowed: 403,
  origin_not_allowed: 403,
  invalid_signature: 401,
  rate_limited: 429,
  payload_too_large: 413,
  not_found: 404,
  internal_error: 500,
  /** The buyer's e-mail already holds the most live orders allowed for this product. */
  purchase_limit: 409,
  /** The request itself is malformed (not JSON, a broken header, a bad URL). */
  bad_request: 400,
  /** The request body's Content-Type is not one the endpoint reads. */
  unsupported_media_type: 415,
  /** No such payment channel is configured and switched on. */
  channel_not_configured: 404,
  /** The channel does not take the order's currency (epay, Alipay and WeChat Pay take CNY). */
  currency_not_supported: 409,
  /** The payment gateway could not be reached or refused the request; nothing changed here. */
  channel_unavailable: 502,
} as const;

/** One of the stable error codes. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The HTTP status that goes with an error code. */
export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}

/** A typed failure crossing a boundary (IPC result, HTTP problem, CLI line). */
export interface ErrorInfo {
  readonly code: ErrorCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The result shape for anything that crosses IPC or a worker boundary: errors keep their code. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorInfo };
