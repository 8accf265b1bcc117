/**
 * Starting a shop whose rows live in PostgreSQL (`oncekey serve --database postgres://...`): the shop
 * (pg/shop.ts: it migrates the database and opens the vault; reconciled as reconcile/postgres.ts does),
 * the expiry sweeper, the payment channels' poller and the HTTP endpoint with the public routes, the
 * payment channels, the webhook and the admin API. Several of these, on several hosts, against one
 * database are one shop. The folder (`--data`) keeps what stays per host: the vault's key file (copy it
 * from the first host, or use the passphrase), the admin token and the webhook secret.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_FILE } from '../engine/engine';
import { readSettingsSql } from '../engine/settings';
import type { RunningServer } from '../http/server';
import { redactUrl } from '../pg/connect';
import { PgShop } from '../pg/shop';
import { reconcilePgShop } from '../reconcile/postgres';
import { KeyFileStore } from '../vault/secret-store';
import { closeOnce, serveShop, type StartShopOptions } from './start-shop';

export interface StartPgShopOptions extends StartShopOptions {
  /** `postgres://user:password@host:port/database` (libpq's `options`, e.g. a search_path, pass through). */
  readonly database: string;
  /** How long a write is run again after a conflict or a lost connection before it answers busy (PgShop's default: 10 s). */
  readonly retryDeadlineMs?: number | undefined;
}

export interface RunningPgShop {
  readonly shop: PgShop;
  readonly server: RunningServer;
  readonly url: string;
  /** Browser mode: a one-time sign-in link to the admin app; null without it. */
  loginUrl(): string | null;
  close(): Promise<void>;
}

export async function startPgShop(options: StartPgShopOptions): Promise<RunningPgShop> {
  const notice = options.notice ?? (() => undefined);
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const secretStore =
    options.secretStore ?? (options.passphrase === undefined ? new KeyFileStore(join(options.dataDir, KEY_FILE)) : undefined);
  const shop = await PgShop.open({
    url: options.database,
    reconcile: reconcilePgShop,
    ...(secretStore ? { secretStore } : {}),
    ...(options.passphrase ? { passphrase: options.passphrase } : {}),
    ...(options.holdSeconds !== undefined ? { holdSeconds: options.holdSeconds } : {}),
    ...(options.retryDeadlineMs !== undefined ? { retryDeadlineMs: options.retryDeadlineMs } : {}),
  });
  try {
    notice(`database: ${redactUrl(options.database)} (PostgreSQL)`);
    await shop.startSweeper(5000, (error) => notice(`expiry sweep failed: ${(error as Error).message}`));
    // The admin app served here shows what the shop's other servers sell, live.
    await shop.listenToPeers();
    const served = await serveShop(shop, await readSettingsSql(shop.sql), options, { dataDir: options.dataDir });
    return { shop, ...served, close: closeOnce(served.server, shop) };
  } catch (error) {
    await shop.close();
    throw error;
  }
}
