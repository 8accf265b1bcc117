/**
 * Helpers that describe a route's responses for both Fastify (serialization) and the OpenAPI document:
 * success bodies as `application/json`, every error a route can answer as `application/problem+json`
 * grouped by status, and a `default` problem for anything else (404 of a wrong method, 500).
 */
import type { ZodType } from 'zod';
import { Problem } from '../../shared/api';
import { statusOf, type ErrorCode } from '../../shared/errors';

const JSON_TYPE = 'application/json';
const PROBLEM_TYPE = 'application/problem+json';

interface MediaResponse {
  readonly description: string;
  readonly content: Record<string, { readonly schema: ZodType }>;
}

/** Errors any route may answer before its handler runs. */
export const COMMON_ERRORS: readonly ErrorCode[] = ['host_not_allowed', 'origin_not_allowed'];
/** Errors any route with a body may answer while reading it. */
export const BODY_ERRORS: readonly ErrorCode[] = [
  'bad_request',
  'payload_too_large',
  'unsupported_media_type',
  'validation_failed',
];

export function responses(success: Record<number, { schema: ZodType; description: string }>, errors: readonly ErrorCode[]) {
  const out: Record<string, MediaResponse> = {};
  for (const [status, { schema, description }] of Object.entries(success)) {
    out[status] = { description, content: { [JSON_TYPE]: { schema } } };
  }
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of new Set([...COMMON_ERRORS, ...errors])) {
    const status = statusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, codes] of byStatus) {
    out[String(status)] = { description: `problem: ${codes.join(', ')}`, content: { [PROBLEM_TYPE]: { schema: Problem } } };
  }
  out.default = { description: 'problem: not_found, internal_error, busy', content: { [PROBLEM_TYPE]: { schema: Problem } } };
  return out;
}
