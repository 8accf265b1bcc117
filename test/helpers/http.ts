/**
 * Test helpers for the shop endpoint over real sockets: a shop with a running server on 127.0.0.1, a
 * small keep-alive HTTP client that can send anything (raw bodies, duplicated headers), webhook
 * signing, `serve` child processes, and a checker that validates real responses against the served
 * OpenAPI document with Ajv (the copy that ships with Fastify's dependencies).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../../src-main/engine/engine';
import { startHttpServer, type HttpConfig } from '../../src-main/http/server';
import type { PaymentOptions } from '../../src-main/payments/service';
import { openShop } from './shop';

export const ADMIN_TOKEN = 'test-admin-token';
export const WEBHOOK_SECRET = 'test-webhook-secret';
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** The parsed body when it is JSON, else undefined. */
  readonly json: unknown;
}

export interface SendOptions {
  readonly method?: string;
  readonly headers?: OutgoingHttpHeaders | readonly string[];
  /** An object is sent as JSON; a string or Buffer as is. */
  readonly body?: unknown;
  readonly timeoutMs?: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** Sends one request over a keep-alive socket and reads the whole answer. */
export function send(baseUrl: string, path: string, options: SendOptions = {}): Promise<HttpResponse> {
  const url = new URL(baseUrl);
  let payload: Buffer | undefined;
  let headers: OutgoingHttpHeaders | string[] = Array.isArray(options.headers)
    ? [...(options.headers as string[])]
    : { ...(options.headers as OutgoingHttpHeaders | undefined) };
  // Raw header lists (to send a header twice) get no automatic Host from Node.
  if (Array.isArray(headers) && !headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'host'))
    headers.push('host', url.host);
  if (options.body !== undefined) {
    if (typeof options.body === 'string') payload = Buffer.from(options.body);
    else if (Buffer.isBuffer(options.body)) payload = options.body;
    else {
      payload = Buffer.from(JSON.stringify(options.body));
      if (!Array.isArray(headers) && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers = { ...headers, 'content-type': 'application/json' };
      }
    }
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        headers,
        agent,
        timeout: options.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = String(res.headers['content-type']).includes('json') ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request ${options.method ?? 'GET'} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** `OnceKey-Signature` for `raw` at unix time `t`. */
export function signature(secret: string, raw: string | Buffer, t = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${t}.`).update(raw).digest('hex');
  return `t=${t},v1=${mac}`;
}

export interface HttpShop {
  readonly engine: Engine;
  readonly productId: string;
  readonly url: string;
  readonly dir: string;
  /** Sends to this shop (Host header is the URL's). */
  send(path: string, options?: SendOptions): Promise<HttpResponse>;
  /** Creates an order with a fresh idempotency key. */
  order(body?: Record<string, unknown>, key?: string): Promise<HttpResponse>;
  /** Posts a correctly signed webhook event. */
  webhook(event: Record<string, unknown>, t?: number): Promise<HttpResponse>;
  admin(path: string, options?: SendOptions): Promise<HttpResponse>;
  close(): Promise<void>;
}

let keySeq = 0;
export const freshKey = (): string => `test-${process.pid}-${Date.now()}-${++keySeq}`;

/** A temp shop (one product, `keys` codes) served on 127.0.0.1 with a free port. */
export async function startShop(
  options: {
    keys?: number;
    price?: number;
    holdSeconds?: number;
    clock?: () => number;
    http?: Partial<HttpConfig>;
    /** Payment channels' options (a fast query schedule, say); `poll` starts the status poller as `serve` does. */
    payments?: PaymentOptions;
    poll?: boolean;
  } = {},
): Promise<HttpShop> {
  const shop = await openShop({
    keys: options.keys ?? 1,
    ...(options.price !== undefined ? { price: options.price } : {}),
    ...(options.holdSeconds !== undefined ? { holdSeconds: options.holdSeconds } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.payments ? { payments: options.payments } : {}),
  });
  const server = await startHttpServer(shop.engine, {
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN_TOKEN,
    webhookSecret: WEBHOOK_SECRET,
    rateLimitPerMinute: 0,
    ...options.http,
  });
  shop.engine.payments.listenUrl = server.url;
  if (options.poll) shop.engine.payments.start();
  return {
    engine: shop.engine,
    productId: shop.productId,
    dir: shop.dir,
    ...shopClient(server.url, shop.productId),
    close: async () => {
      await server.close();
      await shop.cleanup();
    },
  };
}

/** What a test sends to a shop at `url` whose product is `productId`, whichever backend serves it. */
export function shopClient(url: string, productId: string): Pick<HttpShop, 'url' | 'send' | 'order' | 'webhook' | 'admin'> {
  return {
    url,
    send: (path, o) => send(url, path, o),
    order: (body, key) =>
      send(url, '/api/v1/orders', {
        method: 'POST',
        headers: { 'idempotency-key': key ?? freshKey() },
        body: { productId, quantity: 1, email: 'buyer@example.com', ...body },
      }),
    webhook: (event, t) => {
      const raw = JSON.stringify(event);
      return send(url, '/api/v1/payments/webhook', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'oncekey-signature': signature(WEBHOOK_SECRET, raw, t) },
        body: raw,
      });
    },
    admin: (path, o = {}) =>
      send(url, path, {
        ...o,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(o.headers as OutgoingHttpHeaders | undefined) },
      }),
  };
}

// ------------------------------------------------------------------ OpenAPI checking

type Validate = ((data: unknown) => boolean) & { errors?: unknown };
interface AjvLike {
  addSchema(schema: object, key: string): void;
  compile(schema: object): Validate;
}

function newAjv(): AjvLike {
  // Ajv 8 and ajv-formats come with Fastify; take both from one copy so their internals match.
  const require = createRequire(import.meta.url);
  const fromFormats = createRequire(require.resolve('ajv-formats'));
  const Ajv2020 = (fromFormats('ajv/dist/2020') as { default: new (o: object) => AjvLike }).default;
  const addFormats = (require('ajv-formats') as { default: (ajv: AjvLike) => void }).default;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}

const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** Validates real responses against the OpenAPI document the server serves. */
export class OpenApiChecker {
  private readonly ajv = newAjv();
  private readonly cache = new Map<string, Validate>();
  private readonly templates: { template: string; regex: RegExp }[];

  constructor(
    readonly doc: { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> },
  ) {
    this.ajv.addSchema(doc, 'openapi');
    this.templates = Object.keys(doc.paths).map((template) => ({
      template,
      regex: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }));
  }

  static async load(baseUrl: string): Promise<OpenApiChecker> {
    const res = await send(baseUrl, '/api/v1/openapi.json');
    if (res.status !== 200) throw new Error(`openapi.json answered ${res.status}`);
    return new OpenApiChecker(res.json as OpenApiChecker['doc']);
  }

  /** The documented path template a concrete path belongs to, if any. */
  route(path: string): string | null {
    const bare = path.split('?')[0] ?? path;
    return this.templates.find((t) => t.regex.test(bare))?.template ?? null;
  }

  /**
   * Checks one real response: its status is documented for the route (or falls under `default`), its
   * media type is the documented one, and its body validates against that schema. Returns the
   * problems found (empty when it conforms); unknown routes are not checked.
   */
  check(method: string, path: string, res: HttpResponse): string[] {
    const template = this.route(path);
    const op = template ? this.doc.paths[template]?.[method.toLowerCase()] : undefined;
    if (!template || !op) return [];
    const statusKey = op.responses[String(res.status)] ? String(res.status) : op.responses.default ? 'default' : null;
    if (statusKey === null) return [`${method} ${template}: status ${res.status} is not documented`];
    const mediaType =
      String(res.headers['content-type'] ?? '')
        .split(';')[0]
        ?.trim() ?? '';
    const content = op.responses[statusKey]?.content ?? {};
    if (!(mediaType in content)) return [`${method} ${template} ${res.status}: media type ${mediaType} is not documented`];
    const pointer = `openapi#/paths/${escapePointer(template)}/${method.toLowerCase()}/responses/${statusKey}/content/${escapePointer(mediaType)}/schema`;
    let validate = this.cache.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: pointer });
      this.cache.set(pointer, validate);
    }
    if (validate(res.json)) return [];
    return [
      `${method} ${template} ${res.status}: body does not match the document: ${JSON.stringify(validate.errors).slice(0, 500)}`,
    ];
  }
}

// ------------------------------------------------------------------ serve processes

export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly stderr: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `node bin/oncekey.js serve --data <dir> --port 0 ...` and waits for its `listening on` line.
 * `wrap` runs it another way, on another host say (NetnsHost.wrap in netns.ts: `ip netns exec`, which
 * execs, so `child` is still the server itself).
 */
export function startServe(
  dataDir: string,
  extraArgs: readonly string[] = [],
  timeoutMs = 30_000,
  options: { wrap?: (command: string, args: readonly string[]) => { file: string; args: string[] } } = {},
): Promise<ServeProcess> {
  const args = [
    'bin/oncekey.js',
    'serve',
    '--data',
    dataDir,
    '--port',
    '0',
    '--admin-token',
    ADMIN_TOKEN,
    '--webhook-secret',
    WEBHOOK_SECRET,
    '--rate-limit',
    '0',
    ...extraArgs,
  ];
  const command = options.wrap ? options.wrap(process.execPath, args) : { file: process.execPath, args };
  const child = spawn(command.file, command.args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code} before listening: ${err}`));
    });
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) {
        clearTimeout(timer);
        const url = match[1];
        resolve({
          url,
          child,
          stderr: () => err,
          exited,
          stop: (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i] as T, i);
    }
  });
  await Promise.all(workers);
  return results;
}
