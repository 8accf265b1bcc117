/**
 * Every error leaves the endpoint here, as RFC 9457 `application/problem+json` with a stable `code`
 * from shared/errors.ts: engine errors, validation failures, Fastify's own errors (body too large, bad
 * JSON, unknown media type), rate limits and unknown routes. This is the one place that maps an error
 * to a status; nothing else writes an error body. A 5xx never carries the underlying message.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Problem } from '../../shared/api';
import { ERROR_CODES, statusOf, type ErrorCode } from '../../shared/errors';
import { isEngineError } from '../engine/errors';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** One field a validation failure is about. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** An error meant for the client: its code decides the status. Thrown from hooks and handlers. */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: { readonly headers?: Readonly<Record<string, string>>; readonly errors?: readonly FieldError[] } = {},
  ) {
    super(detail);
  }
}

const TITLES: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'The request is not valid',
  product_not_found: 'No such product on sale',
  order_not_found: 'No such order',
  sold_out: 'Sold out',
  idempotency_key_missing: 'Idempotency-Key is missing',
  idempotency_key_reused: 'Idempotency-Key is already used',
  idempotency_key_in_flight: 'A request is outstanding for this Idempotency-Key',
  busy: 'The shop is busy',
  unauthorized: 'Unauthorized',
  host_not_allowed: 'Host not allowed',
  origin_not_allowed: 'Origin not allowed',
  invalid_signature: 'Invalid signature',
  rate_limited: 'Too many requests',
  payload_too_large: 'Request body too large',
  not_found: 'Not found',
  internal_error: 'Internal server error',
  purchase_limit: 'Purchase limit reached',
  bad_request: 'Malformed request',
  unsupported_media_type: 'Unsupported media type',
};

function titleOf(code: ErrorCode): string {
  const title = TITLES[code];
  if (title !== undefined) return title;
  const words = code.replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The `type` URI of a problem: the IANA one for quota, a stable URN of ours otherwise. */
export function typeOf(code: ErrorCode): string {
  return code === 'rate_limited'
    ? 'https://iana.org/assignments/http-problem-types#quota-exceeded'
    : `urn:oncekey:problem:${code}`;
}

export function problemBody(code: ErrorCode, detail: string, errors?: readonly FieldError[]): Problem {
  return {
    type: typeOf(code),
    title: titleOf(code),
    status: statusOf(code),
    detail,
    code,
    ...(errors && errors.length > 0 ? { errors: [...errors] } : {}),
  };
}

interface Mapped {
  readonly code: ErrorCode;
  readonly detail: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly errors?: readonly FieldError[];
}

function dotted(instancePath: string): string {
  return instancePath.replace(/^\//, '').replace(/\//g, '.');
}

interface ZodIssueLike {
  readonly keyword: string;
  readonly instancePath: string;
  readonly message?: string;
  readonly params: Record<string, unknown>;
}

/** Turns zod issues into field errors; unknown fields are named one by one. */
function fieldErrors(issues: readonly ZodIssueLike[], context: string | undefined): FieldError[] {
  const prefix = context && context !== 'body' ? `${context}.` : '';
  const out: FieldError[] = [];
  for (const issue of issues) {
    const base = dotted(issue.instancePath);
    if (issue.keyword === 'unrecognized_keys' && Array.isArray(issue.params.keys)) {
      for (const key of issue.params.keys as unknown[]) {
        out.push({ path: prefix + (base ? `${base}.${String(key)}` : String(key)), message: 'unknown field' });
      }
    } else {
      out.push({ path: prefix + (base || '(body)'), message: issue.message ?? issue.keyword });
    }
  }
  return out;
}

function describe(errors: readonly FieldError[]): string {
  const unknown = errors.filter((e) => e.message === 'unknown field').map((e) => `"${e.path}"`);
  const other = errors.filter((e) => e.message !== 'unknown field').map((e) => `${e.path}: ${e.message}`);
  const parts = [
    ...(unknown.length > 0 ? [`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`] : []),
    ...other,
  ];
  return parts.join('; ').slice(0, 2000) || 'the request is not valid';
}

/** Maps anything thrown while answering a request to a problem. */
export function mapError(error: unknown): Mapped {
  if (error instanceof HttpProblem) return { code: error.code, detail: error.detail, ...error.extra };
  if (isEngineError(error)) {
    const field = error.details?.field;
    const listed = error.details?.errors;
    const errors = Array.isArray(listed)
      ? (listed as FieldError[])
      : typeof field === 'string'
        ? [{ path: field, message: error.message }]
        : undefined;
    return {
      code: error.code,
      detail: error.message,
      ...(errors ? { errors } : {}),
      ...(error.code === 'busy' ? { headers: { 'retry-after': '1' } } : {}),
    };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const errors = fieldErrors(error.validation, (error as { validationContext?: string }).validationContext);
    return { code: 'validation_failed', detail: describe(errors), errors };
  }
  const fastifyError = error as Partial<FastifyError> | null;
  const status = typeof fastifyError?.statusCode === 'number' ? fastifyError.statusCode : 500;
  switch (fastifyError?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'payload_too_large', detail: 'the request body is larger than 1 MiB' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'unsupported_media_type', detail: 'send application/json (or text/plain where the endpoint says so)' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'bad_request', detail: 'the body is not valid JSON' };
    default:
      break;
  }
  if (status === 413) return { code: 'payload_too_large', detail: 'the request body is too large' };
  if (status === 415) return { code: 'unsupported_media_type', detail: 'this media type is not accepted here' };
  if (status === 404) return { code: 'not_found', detail: 'nothing here' };
  if (status >= 400 && status < 500) {
    // Fastify's own 4xx (bad JSON, bad Content-Length, bad URL): its message names no secret.
    const message = error instanceof SyntaxError ? 'the body is not valid JSON' : (fastifyError?.message ?? 'malformed request');
    return { code: 'bad_request', detail: message.slice(0, 300) };
  }
  return { code: 'internal_error', detail: 'the server could not answer this request' };
}

/** Sends a problem as a pre-serialized string, so no response schema can reshape or reject it. */
export function sendProblem(reply: FastifyReply, mapped: Mapped): FastifyReply {
  const body = problemBody(mapped.code, mapped.detail, mapped.errors);
  if (mapped.headers) reply.headers(mapped.headers);
  if (mapped.code === 'unauthorized') reply.header('www-authenticate', 'Bearer realm="oncekey-admin"');
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/** Fastify error handler: one mapping for every route. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = mapError(error);
  if (ERROR_CODES[mapped.code] >= 500 && mapped.code !== 'busy') {
    request.log.error({ err: error }, 'request failed');
  }
  return sendProblem(reply, mapped);
}

/** Unknown routes (and unknown methods on known paths). */
export function notFoundHandler(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, { code: 'not_found', detail: 'no such endpoint' });
}

/**
 * Requests Node's HTTP parser cannot read (garbage, broken headers, oversized headers) never reach a
 * route; they still get a problem+json answer before the socket is closed.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const detail = error.code === 'HPE_HEADER_OVERFLOW' ? 'the request headers are too large' : 'the request is not valid HTTP';
    const body = JSON.stringify(problemBody('bad_request', detail));
    socket.write(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
