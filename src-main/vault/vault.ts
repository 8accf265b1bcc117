/**
 * Unlocking the vault: the data key is created once per shop, stored only wrapped (by the secret
 * store's key and/or by a passphrase through scrypt), and unwrapped into memory when the engine opens.
 */
import { randomBytes } from 'node:crypto';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import {
  deriveVaultKeys,
  newDataKey,
  passphraseKek,
  SCRYPT_PARAMS,
  unwrapDataKey,
  VaultCryptoError,
  wrapDataKey,
  type VaultKeys,
} from './crypto';
import type { SecretStore } from './secret-store';

export interface UnlockOptions {
  readonly secretStore?: SecretStore;
  readonly passphrase?: string;
}

/** An unlocked vault: the working keys, plus the data key itself for re-wrapping. */
export interface UnlockedVault extends VaultKeys {
  readonly dataKey: Buffer;
}

/** One stored wrap of the data key (a row of `vault_wraps`, on either backend). */
export interface WrapRow {
  kind: 'secret_store' | 'passphrase';
  salt: Buffer | null;
  params: string | null;
  wrapped: Buffer;
}

function readWraps(db: ReadableDB): WrapRow[] {
  return stmt(db, 'SELECT kind, salt, params, wrapped FROM vault_wraps').all() as WrapRow[];
}

function wrapRow(kind: WrapRow['kind'], kek: Buffer, dataKey: Buffer, salt: Buffer | null): WrapRow {
  return { kind, salt, params: salt ? JSON.stringify(SCRYPT_PARAMS) : null, wrapped: wrapDataKey(kek, dataKey, kind) };
}

function insertWrap(db: WritableDB, row: WrapRow): void {
  stmt(
    db,
    `INSERT INTO vault_wraps (kind, salt, params, wrapped, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (kind) DO UPDATE SET salt = excluded.salt, params = excluded.params,
       wrapped = excluded.wrapped, created_at = excluded.created_at`,
  ).run(row.kind, row.salt, row.params, row.wrapped, Date.now());
}

function tryUnwrap(row: WrapRow, options: UnlockOptions, storeKek: Buffer | null): Buffer | null {
  try {
    if (row.kind === 'secret_store' && storeKek) return unwrapDataKey(storeKek, row.wrapped, row.kind);
    if (row.kind === 'passphrase' && options.passphrase !== undefined && row.salt) {
      const params = JSON.parse(row.params ?? 'null') as typeof SCRYPT_PARAMS | null;
      const kek = passphraseKek(options.passphrase, row.salt, params ?? SCRYPT_PARAMS);
      return unwrapDataKey(kek, row.wrapped, row.kind);
    }
  } catch (error) {
    if (!(error instanceof VaultCryptoError)) throw error;
  }
  return null;
}

/**
 * What unlocking needs before it touches storage: the secret store's key (created on first use) and, for
 * a vault made now, a fresh data key with its wraps (salt and scrypt done here, outside any write lock).
 */
export function prepareUnlock(options: UnlockOptions): {
  storeKek: Buffer | null;
  fresh: () => { dataKey: Buffer; rows: WrapRow[] };
} {
  if (!options.secretStore && options.passphrase === undefined) {
    throw new EngineError('vault_locked', 'the vault needs a passphrase or a secret store to unlock');
  }
  const storeKek = options.secretStore?.loadOrCreate() ?? null;
  const fresh = () => {
    const dataKey = newDataKey();
    const rows: WrapRow[] = [];
    if (storeKek) rows.push(wrapRow('secret_store', storeKek, dataKey, null));
    if (options.passphrase !== undefined) {
      const salt = randomBytes(16);
      rows.push(wrapRow('passphrase', passphraseKek(options.passphrase, salt), dataKey, salt));
    }
    return { dataKey, rows };
  };
  return { storeKek, fresh };
}

/** The vault opened by the first of the stored wraps that the given methods open; `vault_locked` when none does. */
export function openWraps(wraps: readonly WrapRow[], options: UnlockOptions, storeKek: Buffer | null): UnlockedVault {
  for (const row of wraps) {
    const dataKey = tryUnwrap(row, options, storeKek);
    if (dataKey) return { dataKey, ...deriveVaultKeys(dataKey) };
  }
  const kinds = wraps.map((w) => (w.kind === 'passphrase' ? 'its passphrase' : 'its secret store')).join(' or ');
  throw new EngineError('vault_locked', `the vault is locked: it opens with ${kinds}`);
}

/**
 * Opens the vault, creating its data key on first use (wrapped by every unlock method given).
 * Throws `vault_locked` when none of the given methods opens an existing vault.
 */
export function unlockVault(db: WritableDB, options: UnlockOptions): UnlockedVault {
  const { storeKek, fresh } = prepareUnlock(options);
  let wraps = readWraps(db);
  if (wraps.length === 0) {
    const made = fresh();
    const created = db
      .transaction((): boolean => {
        // Another process may have been first: its vault wins.
        if (readWraps(db).length > 0) return false;
        for (const row of made.rows) insertWrap(db, row);
        return true;
      })
      .immediate();
    if (created) return { dataKey: made.dataKey, ...deriveVaultKeys(made.dataKey) };
    wraps = readWraps(db);
  }
  return openWraps(wraps, options, storeKek);
}

/** Adds or replaces the passphrase that unlocks the vault. */
export function setVaultPassphrase(db: WritableDB, vault: UnlockedVault, passphrase: string): void {
  if (passphrase.length < 8) throw new EngineError('validation_failed', 'a vault passphrase needs at least 8 characters');
  const salt = randomBytes(16);
  const row = wrapRow('passphrase', passphraseKek(passphrase, salt), vault.dataKey, salt);
  db.transaction(() => insertWrap(db, row)).immediate();
}
