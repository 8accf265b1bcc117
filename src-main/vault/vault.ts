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

interface WrapRow {
  kind: 'secret_store' | 'passphrase';
  salt: Buffer | null;
  params: string | null;
  wrapped: Buffer;
}

function readWraps(db: ReadableDB): WrapRow[] {
  return stmt(db, 'SELECT kind, salt, params, wrapped FROM vault_wraps').all() as WrapRow[];
}

function insertWrap(db: WritableDB, kind: WrapRow['kind'], kek: Buffer, dataKey: Buffer, salt: Buffer | null): void {
  stmt(
    db,
    `INSERT INTO vault_wraps (kind, salt, params, wrapped, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (kind) DO UPDATE SET salt = excluded.salt, params = excluded.params,
       wrapped = excluded.wrapped, created_at = excluded.created_at`,
  ).run(kind, salt, salt ? JSON.stringify(SCRYPT_PARAMS) : null, wrapDataKey(kek, dataKey, kind), Date.now());
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
 * Opens the vault, creating its data key on first use (wrapped by every unlock method given).
 * Throws `vault_locked` when none of the given methods opens an existing vault.
 */
export function unlockVault(db: WritableDB, options: UnlockOptions): UnlockedVault {
  if (!options.secretStore && options.passphrase === undefined) {
    throw new EngineError('vault_locked', 'the vault needs a passphrase or a secret store to unlock');
  }
  const storeKek = options.secretStore?.loadOrCreate() ?? null;
  let wraps = readWraps(db);
  if (wraps.length === 0) {
    // Salt and scrypt before taking the write lock; the check inside decides whether we were first.
    const salt = options.passphrase === undefined ? null : randomBytes(16);
    const passKek = salt && options.passphrase !== undefined ? passphraseKek(options.passphrase, salt) : null;
    const created = db
      .transaction((): Buffer | null => {
        if (readWraps(db).length > 0) return null;
        const fresh = newDataKey();
        if (storeKek) insertWrap(db, 'secret_store', storeKek, fresh, null);
        if (passKek) insertWrap(db, 'passphrase', passKek, fresh, salt);
        return fresh;
      })
      .immediate();
    if (created) return { dataKey: created, ...deriveVaultKeys(created) };
    wraps = readWraps(db);
  }
  let dataKey: Buffer | null = null;
  for (const row of wraps) {
    dataKey = tryUnwrap(row, options, storeKek);
    if (dataKey) break;
  }
  if (!dataKey) {
    const kinds = wraps.map((w) => (w.kind === 'passphrase' ? 'its passphrase' : 'its secret store')).join(' or ');
    throw new EngineError('vault_locked', `the vault is locked: it opens with ${kinds}`);
  }
  return { dataKey, ...deriveVaultKeys(dataKey) };
}

/** Adds or replaces the passphrase that unlocks the vault. */
export function setVaultPassphrase(db: WritableDB, vault: UnlockedVault, passphrase: string): void {
  if (passphrase.length < 8) throw new EngineError('validation_failed', 'a vault passphrase needs at least 8 characters');
  const salt = randomBytes(16);
  const kek = passphraseKek(passphrase, salt);
  db.transaction(() => insertWrap(db, 'passphrase', kek, vault.dataKey, salt)).immediate();
}
