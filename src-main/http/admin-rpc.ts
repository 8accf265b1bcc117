/**
 * The admin app over HTTP (browser mode), the twin of the desktop shell's IPC handler:
 *
 * - `POST /api/v1/admin/rpc/<method>` with the input as JSON runs one method through the shared
 *   Dispatcher. Every call that reaches the dispatcher answers **200 with the RpcReply JSON**
 *   `{ok: true, value}` or `{ok: false, error: {code, message}}`, exactly what IPC returns, so the
 *   renderer handles one shape; a method's own failure is not a transport failure (and a browser
 *   would log every 4xx as a console error). Failures before the method runs (not signed in, a
 *   refused Host/Origin, a body over 64 MiB, malformed JSON) are problem+json with their status, as
 *   on every other route; the HTTP transport turns both into the same TransportError(code).
 * - `GET /api/v1/admin/events`: server-sent events, one `data:` line of AppEvent JSON per committed
 *   change, a comment heartbeat every 15 s; every stream ends when the server closes.
 * - `GET /admin/`: the renderer (out/renderer), with `?token=<one-time login token>` exchanged for
 *   a session cookie and a redirect that drops the token from the address bar.
 *
 * Both API routes accept the admin bearer token (scripts) or the browser session cookie.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { EVENTS_PATH, RPC_PATH } from '../../shared/rpc';
import type { ShopBackend } from '../engine/backend';
import type { Engine } from '../engine/engine';
import { Dispatcher } from '../rpc/dispatcher';
import { HANDLERS } from '../rpc/handlers';
import { readCookie, sessionCookie, sessionCookieName, type BrowserSessions } from './admin-session';
import { HttpProblem } from './problems';
import { bearerToken } from './security';

export interface AdminRpcOptions {
  /** The shop the app manages, on either backend. */
  readonly shop: ShopBackend;
  /** The SQLite engine when the shop runs on it (null on PostgreSQL): what the app still reads from it. */
  readonly engine: Engine | null;
  /** The shop's folder on this host (its secrets' files). */
  readonly dataDir: string;
  /** SHA-256 of the admin token (null: no bearer access). */
  readonly adminTokenDigest: Buffer | null;
  /** Browser mode's sign-in; null: bearer token only, and no admin pages. */
  readonly sessions: BrowserSessions | null;
  /** The built renderer served at /admin/ (browser mode); null: not served. */
  readonly adminUiDir: string | null;
  /** The port the server listens on (names the session cookie). */
  readonly port: () => number;
  /** A handler failed in a way it did not mean to (a bug): where to report it. */
  readonly onUnexpected?: (method: string, error: unknown) => void;
}

/** Key imports send whole files as JSON. */
export const RPC_BODY_LIMIT = 64 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;
export const ADMIN_UI_PATH = '/admin/';

const sha256 = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

function reportUnexpected(method: string, error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`oncekey: admin method ${method} failed unexpectedly: ${detail}\n`);
}

const USED_LINK_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OnceKey</title></head><body style="font-family:system-ui,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;max-width:36rem;margin:4rem auto;line-height:1.6">
<h1>This login link has been used</h1><p>Each link printed by <code>npm start</code> signs in one browser, once. Restart OnceKey for a new link.</p>
<h1 lang="zh-CN">此登录链接已使用过</h1><p lang="zh-CN"><code>npm start</code> 打印的每个链接只能登录一次。请重新启动 OnceKey 获取新链接。</p></body></html>`;

export const adminRpcRoutes: FastifyPluginAsync<AdminRpcOptions> = async (app, options) => {
  const { shop, engine, dataDir, sessions } = options;
  const dispatcher = new Dispatcher(HANDLERS, options.onUnexpected ?? reportUnexpected);
  const cookieName = (): string => sessionCookieName(options.port());

  /** Who is calling, or null when nobody valid is. */
  const callerOf = (request: FastifyRequest): 'api' | 'browser' | null => {
    const given = bearerToken(request.headers.authorization);
    if (given !== null) {
      return options.adminTokenDigest !== null && timingSafeEqual(sha256(given), options.adminTokenDigest) ? 'api' : null;
    }
    if (sessions?.check(readCookie(request.headers.cookie, cookieName()))) return 'browser';
    return null;
  };
  const requireCaller = (request: FastifyRequest): 'api' | 'browser' => {
    const caller = callerOf(request);
    if (caller === null) {
      throw new HttpProblem(
        'unauthorized',
        sessions
          ? 'sign in with the admin link printed at start-up, or send Authorization: Bearer <admin token>'
          : 'send Authorization: Bearer <admin token>',
      );
    }
    return caller;
  };

  app.post<{ Params: { method: string } }>(
    `${RPC_PATH}/:method`,
    { bodyLimit: RPC_BODY_LIMIT, schema: { hide: true } },
    async (request, reply) => {
      const caller = requireCaller(request);
      const result = await dispatcher.dispatch(request.params.method, request.body, {
        shop,
        engine,
        dataDir,
        actor: caller === 'browser' ? 'browser' : 'admin-api',
      });
      return reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(result));
    },
  );

  // Server-sent events. The response is taken over from Fastify (it never "finishes"), so its headers
  // are written here; every open stream is ended before the server closes, or close would wait on it.
  const streams = new Set<ServerResponse>();
  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.end();
    streams.clear();
    done();
  });
  app.get(EVENTS_PATH, { schema: { hide: true } }, (request, reply) => {
    requireCaller(request);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // Never reused for another request: when the stream ends, so does its connection (a clean shutdown).
      connection: 'close',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n: connected\n\n');
    streams.add(res);
    const unsubscribe = shop.events.subscribe((event) => {
      res.write(`data: ${JSON.stringify(event)}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const stop = (): void => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(res);
      // The client went away: end our side too, or the half-open socket holds the server's close.
      if (!res.destroyed) res.destroy();
    };
    res.on('close', stop);
    res.on('error', stop);
  });

  const uiDir = options.adminUiDir;
  if (uiDir === null || sessions === null) return;

  await app.register(fastifyStatic, {
    root: uiDir,
    prefix: ADMIN_UI_PATH,
    decorateReply: false,
    index: false,
    redirect: false,
    wildcard: true,
    dotfiles: 'deny',
  });
  app.get('/admin', { schema: { hide: true } }, (request, reply) => {
    const query = request.url.indexOf('?');
    return reply.redirect(`${ADMIN_UI_PATH}${query === -1 ? '' : request.url.slice(query)}`, 303);
  });
  app.get<{ Querystring: { token?: string } }>(ADMIN_UI_PATH, { schema: { hide: true } }, async (request, reply) => {
    const token = typeof request.query.token === 'string' ? request.query.token : undefined;
    if (token !== undefined) {
      // The token is spent whoever opens it. A browser already signed in (the link opened again from
      // the terminal) keeps its session; any other gets the "link used" page.
      const session = sessions.exchange(token);
      if (session !== null) reply.header('set-cookie', sessionCookie(cookieName(), session));
      else if (!sessions.check(readCookie(request.headers.cookie, cookieName()))) {
        return reply.code(401).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(USED_LINK_PAGE);
      }
      return reply.header('cache-control', 'no-store').redirect(ADMIN_UI_PATH, 303);
    }
    const html = await readFile(join(uiDir, 'index.html'), 'utf8');
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html);
  });
};
