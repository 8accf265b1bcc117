/**
 * The shop a CLI command works on, whichever backend holds its rows: the SQLite file in `--data` (the
 * default) or the PostgreSQL database of `--database` / `ONCEKEY_DATABASE_URL`, both as a ShopBackend
 * (engine/backend.ts), so `stock`, `ledger verify` and `product create` are written once and print the
 * same on both. The vault opens as `serve` opens it: with ONCEKEY_PASSPHRASE when set, else with the key
 * file in `--data` (on PostgreSQL the folder holds only that: copy it from the host that created the shop).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sqliteBackend, type ShopBackend } from '../engine/backend';
import { KEY_FILE } from '../engine/engine';
import { EngineError, isEngineError } from '../lib/errors';
import { redactUrl } from '../pg/connect';
import { PgShop } from '../pg/shop';
import { KeyFileStore } from '../vault/secret-store';
import { databaseUrl, DATABASE_OPTION } from './commands/database-option';
import { DATA_OPTION, openEngine, requireString } from './context';

/** `--data <dir>` and `--database <url>`: the options of a command that runs on either backend. */
export const BACKEND_OPTIONS = { ...DATA_OPTION, ...DATABASE_OPTION } as const;

/** A one-off command needs a connection or two, not a server's pool. */
const CLI_POOL_SIZE = 2;

/** Opens the shop named by `--data` and, for PostgreSQL, `--database` (or ONCEKEY_DATABASE_URL). */
export async function openBackend(flags: { readonly data?: string; readonly database?: string }): Promise<ShopBackend> {
  const url = databaseUrl(flags.database);
  if (url === undefined) return sqliteBackend(openEngine(flags.data));

  const dataDir = resolve(requireString(flags.data, '--data <dir>'));
  const passphrase = process.env.ONCEKEY_PASSPHRASE;
  const keyFile = join(dataDir, KEY_FILE);
  const hadKeyFile = existsSync(keyFile);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    return await PgShop.open({
      url,
      poolSize: CLI_POOL_SIZE,
      ...(passphrase ? { passphrase } : { secretStore: new KeyFileStore(keyFile) }),
    });
  } catch (error) {
    if (isEngineError(error) && error.code === 'vault_locked') {
      // A key file made just now for a shop whose vault already exists opens nothing: remove it, so the
      // right one can be copied in without overwriting a stray.
      if (!hadKeyFile && !passphrase) rmSync(keyFile, { force: true });
      const hint = passphrase
        ? 'check ONCEKEY_PASSPHRASE'
        : `copy ${KEY_FILE} from the host that created this shop into ${dataDir}, or set ONCEKEY_PASSPHRASE`;
      throw new EngineError('vault_locked', `${error.message}; ${hint}`);
    }
    if (isEngineError(error)) throw error;
    // pg's own messages ("connect ECONNREFUSED ...", "password authentication failed ...") name no database.
    throw new Error(`PostgreSQL at ${redactUrl(url)}: ${error instanceof Error ? error.message : String(error)}`);
  }
}
