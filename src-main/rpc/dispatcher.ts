/**
 * The one dispatcher both transports use: the desktop shell's IPC handler and browser mode's
 * `POST /api/v1/admin/rpc/<method>` hand it a method name and an untrusted input; it validates the input
 * with the method's schema from shared/rpc, runs the handler and returns an RpcReply whose error keeps
 * its stable code. Handlers never see unvalidated input, and nothing here knows which transport called.
 */
import { ERROR_CODES, type ErrorCode, type ErrorInfo } from '../../shared/errors';
import { isMethodName, METHODS, type MethodName, type Output, type ParsedInput, type RpcReply } from '../../shared/rpc';
import { sqliteBackend, type ShopBackend } from '../engine/backend';
import type { Engine } from '../engine/engine';
import { isEngineError } from '../lib/errors';
import { PgShop } from '../pg/shop';
import { runReconcile } from '../reconcile/service';

export interface RpcContext {
  /** The shop the app manages, whichever backend holds its rows (engine/backend.ts). */
  readonly shop: ShopBackend;
  /** The SQLite engine when the shop runs on it, null on PostgreSQL (`onBackend` picks each backend's own step). */
  readonly engine: Engine | null;
  /** The shop's folder on this host: its secrets' files, a staged restore. */
  readonly dataDir: string;
  /** Who is calling, for the audit trail: `desktop`, `browser`, `cli`, ... */
  readonly actor: string;
}

const backends = new WeakMap<Engine, ShopBackend>();

/** The context of a call on the SQLite engine (the desktop app, browser mode, tests). */
export function sqliteContext(engine: Engine, actor: string): RpcContext {
  let shop = backends.get(engine);
  if (!shop) backends.set(engine, (shop = sqliteBackend(engine, runReconcile)));
  return { shop, engine, dataDir: engine.dataDir, actor };
}

/**
 * Runs the backend's own version of a step the two backends do differently (a write: SQLite's writer
 * runs synchronous statements, PostgreSQL's transaction awaits each one).
 */
export function onBackend<T>(ctx: RpcContext, run: { sqlite: (engine: Engine) => T; postgres: (shop: PgShop) => T }): T {
  if (ctx.engine) return run.sqlite(ctx.engine);
  if (ctx.shop instanceof PgShop) return run.postgres(ctx.shop);
  throw new RpcError('internal_error', `no admin step for the ${ctx.shop.backend} backend`);
}

export type Handler<M extends MethodName> = (input: ParsedInput<M>, ctx: RpcContext) => Output<M> | Promise<Output<M>>;
export type Handlers<K extends MethodName = MethodName> = { readonly [M in K]: Handler<M> };

/** A failure a handler raises on purpose, with a stable code the caller can act on. */
export class RpcError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

function toErrorInfo(error: unknown): ErrorInfo {
  if (error instanceof RpcError)
    return { code: error.code, message: error.message, ...(error.details ? { details: error.details } : {}) };
  if (isEngineError(error) && Object.hasOwn(ERROR_CODES, error.code)) return { code: error.code, message: error.message };
  // Anything else is a bug: say so without leaking internals (a message could hold a code or a path).
  return { code: 'internal_error', message: 'the operation failed unexpectedly; see the app log' };
}

export class Dispatcher {
  constructor(
    private readonly handlers: Handlers,
    private readonly onUnexpected: (method: string, error: unknown) => void = () => undefined,
  ) {}

  async dispatch(name: string, rawInput: unknown, ctx: RpcContext): Promise<RpcReply> {
    if (!isMethodName(name)) return { ok: false, error: { code: 'not_found', message: `unknown method "${name}"` } };
    const parsed = METHODS[name].input.safeParse(rawInput ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      return { ok: false, error: { code: 'validation_failed', message: `${where}${issue?.message ?? 'invalid input'}` } };
    }
    try {
      const handler = this.handlers[name] as Handler<MethodName>;
      const value = await handler(parsed.data, ctx);
      return { ok: true, value };
    } catch (error) {
      const info = toErrorInfo(error);
      if (info.code === 'internal_error') this.onUnexpected(name, error);
      return { ok: false, error: info };
    }
  }
}
