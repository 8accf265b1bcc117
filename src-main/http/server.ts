/**
 * The shop's HTTP endpoint (Fastify), as specified in ../shared/spec/http-api.md: public routes for a
 * shop front, the payment webhook, admin routes, the OpenAPI document and the buyer page (static files).
 * `buildHttpApp` assembles it without listening (tests use `inject`); `startHttpServer` listens and
 * returns a `close()` that stops accepting, lets in-flight requests finish and then resolves.
 *
 * Secure by default: bound to 127.0.0.1 unless told otherwise, Host and Origin allowlists, 1 MiB
 * bodies, no CORS, rate limits on order creation and lookup, logs off (or redacted).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { sqliteBackend, type ShopBackend } from '../engine/backend';
import { Engine } from '../engine/engine';
import { runReconcile } from '../reconcile/service';
import { adminRoutes } from './admin-routes';
import { adminRpcRoutes } from './admin-rpc';
import type { BrowserSessions } from './admin-session';
import { openApiRoute, registerOpenApi } from './openapi';
import { paymentAdminRoutes } from './payment-admin-routes';
import { paymentRoutes } from './payment-routes';
import { clientErrorHandler, errorHandler, HttpProblem, mapError, notFoundHandler, sendProblem } from './problems';
import { publicRoutes } from './public-routes';
import { adminTokenDigest, HostAllowlist, hostAndOriginGuard, setSecurityHeaders } from './security';
import { serializerCompiler } from './serializer';
import { webhookRoutes } from './webhook';

export interface HttpConfig {
  readonly host: string;
  readonly port: number;
  readonly adminToken: string;
  readonly webhookSecret: string;
  /** Order creations and order lookups per client address per minute; 0 turns the limit off. */
  readonly rateLimitPerMinute: number;
  /** Extra names the shop answers to in Host/Origin (`shop.example.com` any port, `name:port` that port). */
  readonly shopHosts?: readonly string[];
  /** Most live orders one e-mail may hold per product within 24 hours; 0 or absent: no limit. */
  readonly maxOrdersPerEmail?: number;
  /** Folder served at `/` (the buyer page); defaults to src-main/http/public next to this file. */
  readonly publicDir?: string;
  /** Request logging with pino, secrets redacted. Off by default. */
  readonly log?: boolean;
  /** Browser mode: sign-in sessions for the admin pages, and the built renderer served at /admin/. */
  readonly browserSessions?: BrowserSessions;
  readonly adminUiDir?: string;
  /** The shop's folder on this host, where the admin app writes rotated secrets (the SQLite engine's own when absent). */
  readonly dataDir?: string;
}

export interface RunningServer {
  readonly url: string;
  close(): Promise<void>;
}

export const BODY_LIMIT = 1024 * 1024;

const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

/** Headers and body fields that must never reach a log line. */
const REDACT = [
  'req.headers.authorization',
  'req.headers["oncekey-signature"]',
  'req.headers["idempotency-key"]',
  'req.headers.cookie',
  'req.body',
  'res.body',
];

function loggerOption(enabled: boolean | undefined) {
  if (!enabled) return false;
  return { level: 'info', redact: { paths: REDACT, censor: '[redacted]' }, stream: process.stderr };
}

/**
 * Builds the endpoint without listening: the same routes on either backend (the SQLite engine, or a
 * ShopBackend such as PostgreSQL's pg/shop.ts), the admin app's included.
 */
export async function buildHttpApp(target: Engine | ShopBackend, config: HttpConfig): Promise<FastifyInstance> {
  const engine = target instanceof Engine ? target : null;
  const shop = target instanceof Engine ? sqliteBackend(target, runReconcile) : target;
  const app = Fastify({
    logger: loggerOption(config.log),
    bodyLimit: BODY_LIMIT,
    trustProxy: false,
    // Requests arriving on an open connection while closing are still answered (with Connection: close).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    requestTimeout: 30_000,
    // Long made-up order ids still reach the order route and get its 404, not the router's.
    routerOptions: { maxParamLength: 1000 },
    clientErrorHandler,
    frameworkErrors: (error, _request, reply) => {
      sendProblem(
        reply,
        error instanceof HttpProblem ? mapError(error) : { code: 'bad_request', detail: 'the request URL is malformed' },
      );
    },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);

  // An empty JSON body is "no body" (mark-paid takes none); anything else goes to Fastify's safe parser.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text === '') {
      done(null, undefined);
      return;
    }
    void jsonParser(request, text, done);
  });

  // The real port is known once listening (port 0 picks one); it never changes after that.
  let boundPort: number | null = null;
  const port = (): number => {
    if (boundPort !== null) return boundPort;
    const address = app.server.listening ? app.server.address() : null;
    if (typeof address === 'object' && address !== null) boundPort = address.port;
    return boundPort ?? config.port;
  };
  app.addHook(
    'onRequest',
    hostAndOriginGuard(new HostAllowlist(config.host, port, config.shopHosts ?? [], () => shop.payments.publicHost())),
  );
  // While closing, in-flight requests are answered with `Connection: close`, so an idle keep-alive
  // socket cannot hold the shutdown open until its timeout.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // One onSend hook for every response: security headers, the RateLimit fields, closing.
  app.addHook('onSend', (request, reply, payload, done) => {
    setSecurityHeaders(request, reply);
    const policy = request.routeOptions.config.ratePolicy;
    if (policy) {
      const remaining = reply.getHeader('ratelimit-remaining');
      if (remaining !== undefined) {
        reply.header('ratelimit-policy', `"${policy.name}";q=${policy.max};w=${policy.window}`);
        reply.header(
          'ratelimit',
          `"${policy.name}";r=${String(remaining)};t=${String(reply.getHeader('ratelimit-reset') ?? policy.window)}`,
        );
      }
    }
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  await registerOpenApi(app);
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    errorResponseBuilder: (_request, context) =>
      new HttpProblem('rate_limited', `too many requests from this address; retry in ${context.after}`),
  });

  const rateLimitPerMinute = Math.max(0, config.rateLimitPerMinute);
  await app.register(publicRoutes, { engine: shop, rateLimitPerMinute, maxOrdersPerEmail: config.maxOrdersPerEmail ?? 0 });
  await app.register(webhookRoutes, { engine: shop, webhookSecret: config.webhookSecret });
  await app.register(paymentRoutes, { shop, rateLimitPerMinute });
  await app.register(paymentAdminRoutes, { shop, adminTokenDigest: adminTokenDigest(config.adminToken) });
  await app.register(adminRpcRoutes, {
    shop,
    engine,
    dataDir: engine?.dataDir ?? config.dataDir ?? '',
    adminTokenDigest: adminTokenDigest(config.adminToken),
    sessions: config.browserSessions ?? null,
    adminUiDir: config.adminUiDir ?? null,
    port,
  });
  // After the payment routes, as before it served PostgreSQL too: the OpenAPI document keeps its order.
  // Only a digest of the admin token stays in memory here.
  await app.register(adminRoutes, { shop, adminTokenDigest: adminTokenDigest(config.adminToken) });
  openApiRoute(app);

  const publicDir = config.publicDir ?? DEFAULT_PUBLIC_DIR;
  if (existsSync(publicDir)) {
    await app.register(fastifyStatic, { root: publicDir, prefix: '/', wildcard: false, index: ['index.html'], dotfiles: 'deny' });
  }
  return app;
}

/** Builds the endpoint and listens; `url` carries the real port (useful with port 0). */
export async function startHttpServer(target: Engine | ShopBackend, config: HttpConfig): Promise<RunningServer> {
  const app = await buildHttpApp(target, config);
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    // The port is taken (EADDRINUSE) or the address is not this machine's: nothing is left open.
    await app.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return { url: `http://${host}:${port}`, close: () => app.close() };
}
