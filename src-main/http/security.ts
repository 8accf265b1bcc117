/**
 * What keeps the local endpoint safe by default: a `Host` allowlist (web pages on the owner's PC cannot
 * reach it through DNS rebinding), an `Origin` check, security headers on every response, the admin
 * bearer check (only a SHA-256 of the token is kept, compared in constant time) and the parsing of
 * the `Idempotency-Key` header.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HEADERS, IDEMPOTENCY_KEY_MAX } from '../../shared/api';
import { HttpProblem } from './problems';

const LOOPBACK_BINDS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

function bracket(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Decides which `Host` values (and `Origin` hosts) the endpoint answers: the bound address with its
 * port; localhost, 127.0.0.1 and [::1] with the port when bound to loopback or to every interface;
 * and each configured shop host (`name` matches any port, `name:port` only that port).
 */
export class HostAllowlist {
  private cachedPort = -1;
  private exact = new Set<string>();
  private readonly anyPort = new Set<string>();
  private readonly shopExact = new Set<string>();

  /**
   * @param publicHost the host of the shop's public address (Settings, or `serve --public-url`), asked
   *   only for a Host nothing else allows: a tunnel or proxy in front of the shop forwards that name,
   *   and a gateway's notification must not be refused for it.
   */
  constructor(
    private readonly bindHost: string,
    private readonly port: () => number,
    shopHosts: readonly string[] = [],
    private readonly publicHost: () => string | null = () => null,
  ) {
    for (const entry of shopHosts) {
      const host = entry.trim().toLowerCase();
      if (host === '') continue;
      const withPort = host.startsWith('[') ? /^\[[^\]]+\]:\d+$/.test(host) : /^[^:]+:\d+$/.test(host);
      if (withPort) this.shopExact.add(host);
      else this.anyPort.add(bracket(host));
    }
  }

  private refresh(): void {
    const port = this.port();
    if (port === this.cachedPort) return;
    this.cachedPort = port;
    const bind = this.bindHost.toLowerCase();
    const names = new Set([bracket(bind)]);
    if (LOOPBACK_BINDS.has(bind) || bind === '0.0.0.0' || bind === '::' || bind === '[::]') {
      for (const name of LOOPBACK_NAMES) names.add(name);
    }
    const exact = new Set<string>(this.shopExact);
    for (const name of names) {
      exact.add(`${name}:${port}`);
      if (port === 80) exact.add(name);
    }
    this.exact = exact;
  }

  /** True when `host` (a Host header value, or an Origin's host) is one this shop answers to. */
  allows(host: string | undefined): boolean {
    if (host === undefined || host === '' || host.length > 300) return false;
    this.refresh();
    const value = host.toLowerCase();
    if (this.exact.has(value)) return true;
    const name = value.startsWith('[') ? value.slice(0, value.indexOf(']') + 1) : value.replace(/:\d+$/, '');
    return this.anyPort.has(name) || name === this.publicHost()?.toLowerCase();
  }
}

/** The host part of an `Origin` header, or null when it is not a usable origin (e.g. `null`). */
function originHost(origin: string): string | null {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url.host;
  } catch {
    return null;
  }
}

/** onRequest: refuse foreign Host and Origin values before anything else runs. */
export function hostAndOriginGuard(allowlist: HostAllowlist) {
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    if (!allowlist.allows(request.headers.host)) {
      done(new HttpProblem('host_not_allowed', 'this shop does not answer to that Host'));
      return;
    }
    const origin = request.headers.origin;
    if (origin !== undefined) {
      const host = originHost(origin);
      if (host === null || !allowlist.allows(host)) {
        done(new HttpProblem('origin_not_allowed', 'requests from that origin are not accepted'));
        return;
      }
    }
    done();
  };
}

const API_CSP = "default-src 'none'; frame-ancestors 'none'";
const HTML_CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

const BASE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/**
 * Security headers for every response (onSend); API answers are never cached: they carry tokens and codes.
 * The policy follows the URL, not the content type: a 304 for a cached page has no content type, and
 * a browser applies the policy of the 304 to the page it revalidated.
 */
export function setSecurityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(BASE_HEADERS);
  const api = request.url.startsWith('/api/');
  reply.header('content-security-policy', api ? API_CSP : HTML_CSP);
  if (api) reply.header('cache-control', 'no-store');
}

/** The token from `Authorization: Bearer <token>`, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

/** What the endpoint keeps of the admin token: its SHA-256 (null locks every admin route). */
export function adminTokenDigest(adminToken: string): Buffer | null {
  return adminToken === '' ? null : sha256(adminToken);
}

/**
 * onRequest for admin routes. Only the token's SHA-256 is kept; comparing two digests of equal length
 * in constant time reveals nothing about the token.
 */
export function adminGuard(expected: Buffer | null) {
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void): void => {
    const given = bearerToken(request.headers.authorization);
    const ok = expected !== null && given !== null && timingSafeEqual(sha256(given), expected);
    done(ok ? undefined : new HttpProblem('unauthorized', 'send Authorization: Bearer <admin token>'));
  };
}

/** Unquotes an RFC 8941 sf-string (`"..."` with `\"` and `\\` escapes); null when malformed. */
function sfString(value: string): string | null {
  let out = '';
  for (let i = 1; i < value.length - 1; i++) {
    const ch = value[i]!;
    if (ch === '\\') {
      const next = value[++i];
      if (next !== '"' && next !== '\\') return null;
      out += next;
    } else if (ch === '"') {
      return null;
    } else {
      out += ch;
    }
  }
  return out;
}

const missing = (why: string): HttpProblem => new HttpProblem('idempotency_key_missing', why);

/**
 * Reads `Idempotency-Key`: one header, quoted (the IETF draft's sf-string) or bare (what most clients
 * send), 1 to 255 printable ASCII characters. Anything else is treated as no key at all.
 */
export function readIdempotencyKey(request: FastifyRequest): string {
  let count = 0;
  const raw = request.raw.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === HEADERS.idempotencyKey) count++;
  if (count > 1) throw missing('send exactly one Idempotency-Key header');
  const header = request.headers[HEADERS.idempotencyKey];
  if (typeof header !== 'string' || header === '')
    throw missing('this request needs an Idempotency-Key header (1 to 255 printable ASCII characters)');
  const quoted = header.length >= 2 && header.startsWith('"') && header.endsWith('"');
  const key = quoted ? sfString(header) : header;
  if (key === null || key.length < 1 || key.length > IDEMPOTENCY_KEY_MAX || !/^[\x20-\x7e]+$/.test(key)) {
    throw missing('an Idempotency-Key is 1 to 255 printable ASCII characters, bare or in double quotes');
  }
  return key;
}
