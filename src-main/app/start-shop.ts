/**
 * Starting one shop: the engine, the expiry sweeper and the HTTP endpoint, and stopping them in the
 * right order. `oncekey serve` (headless and browser mode) and the desktop shell both start here, so
 * a shop behaves the same whichever way it was opened.
 */
import type { SecretStore } from '../vault/secret-store';
import { resolveSecret } from '../lib/secrets';
import { Engine } from '../engine/engine';
import { BrowserSessions } from '../http/admin-session';
import { ADMIN_UI_PATH } from '../http/admin-rpc';
import type { ShopBackend } from '../engine/backend';
import { readSettings, resolveStartSettings, type ShopSettings } from '../engine/settings';
import { startHttpServer, type HttpConfig, type RunningServer } from '../http/server';

export interface StartShopOptions {
  readonly dataDir: string;
  /** Absent: the shop's saved setting (Settings page), else 127.0.0.1. */
  readonly host?: string | undefined;
  /** Absent: the shop's saved setting, else 8787. */
  readonly port?: number | undefined;
  /** When the port (given or saved) is taken, listen on a free one instead and say so (`npm start`). */
  readonly portFallback?: boolean;
  /** Given ones win; otherwise each is read from (or generated once into) a 0600 file in dataDir. */
  readonly adminToken?: string | undefined;
  readonly webhookSecret?: string | undefined;
  /** Absent: the shop's saved setting (or the default). */
  readonly holdSeconds?: number | undefined;
  readonly rateLimitPerMinute: number;
  readonly shopHosts?: readonly string[];
  /** The shop's address as gateways reach it (a tunnel or proxy URL) for this run; absent: the saved one. */
  readonly publicUrl?: string | undefined;
  /** Absent: the shop's saved purchase limit (0: none). */
  readonly maxOrdersPerEmail?: number | undefined;
  readonly log?: boolean;
  /** Where the vault's key lives (the desktop's OS keychain); default: a key file, or `passphrase`. */
  readonly secretStore?: SecretStore;
  readonly passphrase?: string | undefined;
  /** Browser mode: serve this built renderer at /admin/ behind a one-time login link. */
  readonly adminUiDir?: string | undefined;
  /** One line for the person running it (where secrets came from, warnings). */
  readonly notice?: (line: string) => void;
}

export interface RunningShop {
  readonly engine: Engine;
  readonly server: RunningServer;
  /** `http://host:port` */
  readonly url: string;
  /** Browser mode: a fresh sign-in link (each works once); null otherwise. */
  loginUrl(): string | null;
  /** Stops accepting, lets in-flight requests finish, then closes the database. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The admin token and webhook secret (given, or read from / generated into dataDir), said where they came from. */
export function shopSecrets(
  options: Pick<StartShopOptions, 'dataDir' | 'adminToken' | 'webhookSecret'> & { readonly host: string },
  notice: (line: string) => void,
): { adminToken: { value: string }; webhookSecret: { value: string } } {
  const adminToken = resolveSecret(options.dataDir, 'admin-token', options.adminToken);
  const webhookSecret = resolveSecret(options.dataDir, 'webhook-secret', options.webhookSecret);
  for (const [label, secret] of [
    ['admin token', adminToken],
    ['webhook secret', webhookSecret],
  ] as const) {
    if (secret.file) notice(`${label}: ${secret.generated ? 'generated and stored in' : 'read from'} ${secret.file}`);
  }
  if (!LOOPBACK.has(options.host))
    notice(`warning: listening on ${options.host}: other machines on the network can reach this shop`);
  return { adminToken, webhookSecret };
}

/**
 * A running shop's `close`: stops the server (no new connections, in-flight requests finish and their
 * writes commit), then closes the shop's database, even when the server's close failed. Called again, or
 * while closing, it returns the same promise, so a signal during shutdown never closes anything twice.
 */
export function closeOnce(server: Pick<RunningServer, 'close'>, shop: { close(): Promise<void> }): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= (async () => {
      try {
        await server.close();
      } finally {
        await shop.close();
      }
    })();
    return closing;
  };
}

/** The endpoint of a shop on either backend, started: its address and browser mode's sign-in links. */
export interface ServedShop {
  readonly server: RunningServer;
  readonly url: string;
  loginUrl(): string | null;
}

/**
 * Starts the endpoint of an opened shop, as both backends' starts do: host, port and purchase limit from
 * the command line, else the saved settings (`saved`, read by the backend), else the defaults; the
 * secrets; browser mode's sessions; then the payment channels' poller once it listens. Gateways are told
 * to notify its address unless the owner gave the shop's public one (`--public-url`, or Settings), with a
 * warning when no gateway outside this PC could reach it.
 */
export async function serveShop(
  target: Engine | ShopBackend,
  saved: ShopSettings,
  options: StartShopOptions,
  extra: Pick<HttpConfig, 'dataDir'> = {},
): Promise<ServedShop> {
  const notice = options.notice ?? (() => undefined);
  const { host, port, maxOrdersPerEmail } = resolveStartSettings(saved, options);
  const { adminToken, webhookSecret } = shopSecrets({ ...options, host }, notice);
  const sessions = options.adminUiDir ? new BrowserSessions() : undefined;
  const config: HttpConfig = {
    host,
    port,
    adminToken: adminToken.value,
    webhookSecret: webhookSecret.value,
    rateLimitPerMinute: Math.max(0, options.rateLimitPerMinute),
    shopHosts: options.shopHosts ?? [],
    maxOrdersPerEmail,
    log: options.log ?? false,
    ...extra,
    ...(sessions && options.adminUiDir ? { browserSessions: sessions, adminUiDir: options.adminUiDir } : {}),
  };
  let server: RunningServer;
  try {
    server = await startHttpServer(target, config);
  } catch (error) {
    if (!options.portFallback || port === 0 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    notice(`port ${port} is in use; listening on a free port instead`);
    server = await startHttpServer(target, { ...config, port: 0 });
  }
  const payments = target.payments;
  try {
    payments.listenUrl = server.url;
    if (options.publicUrl) payments.publicUrl = options.publicUrl;
    payments.start();
    if ((await payments.list()).length > 0 && payments.notifyUnreachable()) {
      notice(
        `warning: payment notifications go to ${payments.notifyUrl('epay').replace(/epay\/notify$/, '<channel>/notify')}, ` +
          'which no gateway outside this PC can reach; payments are still found by querying the channel',
      );
    }
  } catch (error) {
    await server.close();
    throw error;
  }
  const running = server;
  return {
    server: running,
    url: running.url,
    loginUrl: () => (sessions ? `${running.url}${ADMIN_UI_PATH}?token=${sessions.issueLoginToken()}` : null),
  };
}

export async function startShop(options: StartShopOptions): Promise<RunningShop> {
  const notice = options.notice ?? (() => undefined);
  const engine = Engine.open({
    dataDir: options.dataDir,
    ...(options.secretStore ? { secretStore: options.secretStore } : {}),
    ...(options.passphrase ? { passphrase: options.passphrase } : {}),
    ...(options.holdSeconds !== undefined ? { holdSeconds: options.holdSeconds } : {}),
  });
  try {
    // Release the holds that expired while no server was running before taking any order.
    await engine.startSweeper(5000, (error) => notice(`expiry sweep failed: ${(error as Error).message}`));
    const served = await serveShop(engine, readSettings(engine.db), options);
    return { engine, ...served, close: closeOnce(served.server, engine) };
  } catch (error) {
    await engine.close();
    throw error;
  }
}
