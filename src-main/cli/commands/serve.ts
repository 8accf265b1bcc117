/**
 * `oncekey serve`: the engine and the shop's HTTP endpoint without a window (src-main/app/start-shop.ts,
 * the same start-up the desktop app uses). Prints `listening on http://<host>:<port>` once it accepts
 * connections; on SIGINT/SIGTERM it stops accepting, finishes in-flight requests, closes the database
 * and exits 0.
 *
 * `--host`, `--port` and `--max-orders-per-email` default to what the owner saved on the Settings page
 * (else 127.0.0.1, 8787, none). `--browser` is browser mode: the admin app (built into out/ first when needed) is also served at
 * /admin/, and one line `admin: http://127.0.0.1:<port>/admin/?token=<one-time login token>` is printed.
 */
import { resolve } from 'node:path';
import { ensureBuilt, RENDERER_DIR } from '../../app/build';
import { startPgShop } from '../../app/start-pg-shop';
import { startShop } from '../../app/start-shop';
import { databaseUrl, DATABASE_OPTION } from './database-option';
import { DATA_OPTION, parse, parseInteger, requireString, UsageError, type Io } from '../context';

export const SERVE_OPTIONS = {
  ...DATA_OPTION,
  // Absent: the shop's saved setting (Settings page), else 127.0.0.1, 8787 and no purchase limit.
  host: { type: 'string' },
  port: { type: 'string' },
  'admin-token': { type: 'string' },
  'webhook-secret': { type: 'string' },
  'hold-seconds': { type: 'string' },
  'rate-limit': { type: 'string' },
  'shop-host': { type: 'string', multiple: true },
  'public-url': { type: 'string' },
  'max-orders-per-email': { type: 'string' },
  log: { type: 'boolean', default: false },
  browser: { type: 'boolean', default: false },
  ...DATABASE_OPTION,
  'retry-deadline': { type: 'string' },
} as const;

/** The longest `--retry-deadline`: past ten minutes a buyer has long given up waiting for the answer. */
export const MAX_RETRY_DEADLINE_S = 600;

/**
 * `--retry-deadline <seconds>`: how long a PostgreSQL shop runs a write again after a deadlock, a
 * serialization failure or a lost connection before it answers 503 busy (pg/shop.ts; 10 s when absent).
 * SQLite's writer has no such deadline, so the flag without `--database` is a mistake, said so.
 */
export function retryDeadlineOption(value: string | undefined, database: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (database === undefined) {
    throw new UsageError(
      '--retry-deadline applies to PostgreSQL only: give it with --database postgres://... (or ONCEKEY_DATABASE_URL)',
    );
  }
  const seconds = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(seconds > 0 && seconds <= MAX_RETRY_DEADLINE_S)) {
    throw new UsageError(`--retry-deadline is a number of seconds above 0 and at most ${MAX_RETRY_DEADLINE_S}, e.g. 10`);
  }
  return Math.max(1, Math.round(seconds * 1000));
}

/** `--public-url`: an http(s) address without a path, query or fragment (gateways append their paths). */
function publicUrlOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--public-url ${value} is not a URL (e.g. https://shop.example.com)`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.pathname.length > 1)
    throw new UsageError('--public-url is an http:// or https:// address with no path, e.g. https://shop.example.com');
  return url.origin;
}

export async function serveCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, SERVE_OPTIONS);
  const dataDir = resolve(requireString(values.data, '--data <dir>'));
  const port = values.port === undefined ? undefined : parseInteger(values.port, '--port', 8787);
  // Absent: the shop's saved setting (Settings page), else the default.
  const holdSeconds =
    values['hold-seconds'] === undefined ? undefined : parseInteger(values['hold-seconds'], '--hold-seconds', 900, 1);
  const rateLimit = parseInteger(values['rate-limit'], '--rate-limit', 60);
  const maxOrdersPerEmail =
    values['max-orders-per-email'] === undefined
      ? undefined
      : parseInteger(values['max-orders-per-email'], '--max-orders-per-email', 0);
  const database = databaseUrl(values.database);
  const retryDeadlineMs = retryDeadlineOption(values['retry-deadline'], database);

  // Listen for the stop signal from the start, so a SIGTERM during start-up still closes cleanly.
  let stopRequested = false;
  const stopped = new Promise<void>((done) => {
    const stop = (): void => {
      stopRequested = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

  if (values.browser) await ensureBuilt(io.err);
  if (stopRequested) return 0;
  let shop: { url: string; loginUrl(): string | null; close(): Promise<void> } | null = null;
  const common = {
    dataDir,
    host: values.host,
    port,
    // Browser mode (`npm start`) without --port takes a free port when the saved or default one is taken.
    portFallback: values.browser && port === undefined,
    adminToken: values['admin-token'] ?? process.env.ONCEKEY_ADMIN_TOKEN,
    webhookSecret: values['webhook-secret'] ?? process.env.ONCEKEY_WEBHOOK_SECRET,
    holdSeconds,
    rateLimitPerMinute: rateLimit,
    shopHosts: values['shop-host'] ?? [],
    maxOrdersPerEmail,
    log: values.log,
    passphrase: process.env.ONCEKEY_PASSPHRASE,
    notice: io.err,
    publicUrl: publicUrlOption(values['public-url']),
    adminUiDir: values.browser ? RENDERER_DIR : undefined,
  };
  try {
    shop = database === undefined ? await startShop(common) : await startPgShop({ ...common, database, retryDeadlineMs });
    const login = shop.loginUrl();
    // Browser mode prints one line to open (as Jupyter does); headless mode its address.
    if (login !== null) {
      io.err(`listening on ${shop.url}`);
      io.out(`admin: ${login}`);
    } else {
      io.out(`listening on ${shop.url}`);
    }
    await stopped;
  } finally {
    // Stop accepting, let in-flight requests finish (their writes commit), then close the database.
    await shop?.close();
  }
  return 0;
}
