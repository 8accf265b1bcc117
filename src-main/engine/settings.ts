/**
 * Shop settings kept in the database's `meta` table (`settings.*` keys, JSON values), so every process
 * serving one shop reads the same ones; secret rotation (the files `oncekey serve` reads, see
 * lib/secrets.ts); the vault passphrase; online backup; and restore, which is validated now and staged
 * to replace the database at the next start (swapping the file under a running engine, and under any
 * other process serving the same folder, is not safe).
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, openReadOnly, schemaVersion } from '../db/open';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { keyAad, open, passphraseKek, SCRYPT_PARAMS, unwrapDataKey, VaultCryptoError, wrapDataKey } from '../vault/crypto';
import type { UnlockedVault } from '../vault/vault';
import { writeAudit } from '../db/audit';
import { EngineError } from '../lib/errors';
import { verifyLedger } from './ledger-verify';

export interface ShopSettings {
  readonly host: string;
  readonly port: number;
  readonly holdMinutes: number;
  readonly purchaseLimit: number;
  /** The shop's address as payment gateways and returning buyers reach it ('' = the address it listens on). */
  readonly publicUrl: string;
}

export const DEFAULT_SETTINGS: ShopSettings = {
  host: '127.0.0.1',
  port: 8787,
  holdMinutes: 15,
  purchaseLimit: 0,
  publicUrl: '',
};

const KEYS = {
  host: 'settings.host',
  port: 'settings.port',
  holdMinutes: 'settings.hold_minutes',
  purchaseLimit: 'settings.purchase_limit',
  publicUrl: 'settings.public_url',
} as const;
const ROTATED = { adminToken: 'settings.rotated.admin_token', webhookSecret: 'settings.rotated.webhook_secret' } as const;
/** The files `oncekey serve` reads its secrets from (lib/secrets.ts). */
export const SECRET_FILES = { adminToken: 'admin-token', webhookSecret: 'webhook-secret' } as const;
export type SecretName = keyof typeof SECRET_FILES;

export const RESTORE_FILE = 'restore-pending.db';
const RESTORE_NOTE = 'restore-pending.json';

function readMeta(db: ReadableDB, key: string): unknown {
  const value = stmt(db, 'SELECT value FROM meta WHERE key = ?').pluck().get(key) as Buffer | undefined;
  if (value === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(value).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function writeMeta(db: WritableDB, key: string, value: unknown): void {
  stmt(db, 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
    key,
    Buffer.from(JSON.stringify(value)),
  );
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/** The stored settings, each falling back to its default when absent or unreadable. */
export function readSettings(db: ReadableDB): ShopSettings {
  const host = readMeta(db, KEYS.host);
  const port = readMeta(db, KEYS.port);
  const hold = readMeta(db, KEYS.holdMinutes);
  const limit = readMeta(db, KEYS.purchaseLimit);
  const publicUrl = readMeta(db, KEYS.publicUrl);
  return {
    host: typeof host === 'string' && host !== '' ? host : DEFAULT_SETTINGS.host,
    port: isInt(port, 1, 65535) ? port : DEFAULT_SETTINGS.port,
    holdMinutes: isInt(hold, 1, 7 * 24 * 60) ? hold : DEFAULT_SETTINGS.holdMinutes,
    purchaseLimit: isInt(limit, 0, 1000) ? limit : DEFAULT_SETTINGS.purchaseLimit,
    publicUrl: typeof publicUrl === 'string' && /^https?:\/\//.test(publicUrl) ? publicUrl : DEFAULT_SETTINGS.publicUrl,
  };
}

/** The stored hold, in seconds, when the owner set one (the engine's default otherwise). */
export function storedHoldSeconds(db: ReadableDB): number | undefined {
  const hold = readMeta(db, KEYS.holdMinutes);
  return isInt(hold, 1, 7 * 24 * 60) ? hold * 60 : undefined;
}

/** Stores the given settings and audits the change; returns the ones that changed. Call in a write transaction. */
export function writeSettings(db: WritableDB, now: number, patch: Partial<ShopSettings>, actor: string): (keyof ShopSettings)[] {
  const before = readSettings(db);
  const changed: (keyof ShopSettings)[] = [];
  for (const name of Object.keys(KEYS) as (keyof ShopSettings)[]) {
    const value = patch[name];
    if (value === undefined || value === before[name]) continue;
    writeMeta(db, KEYS[name], value);
    changed.push(name);
  }
  if (changed.length > 0) {
    const detail: Record<string, unknown> = {};
    for (const name of changed) detail[name] = { from: before[name], to: patch[name] };
    writeAudit(db, now, actor, 'settings.set', 'settings', detail);
  }
  return changed;
}

export function rotatedAt(db: ReadableDB, which: SecretName): string | null {
  const at = readMeta(db, ROTATED[which]);
  return typeof at === 'number' ? new Date(at).toISOString() : null;
}

/** Writes a fresh random secret to its 0600 file (atomically: a temp file renamed over it). */
export function writeNewSecret(dataDir: string, which: SecretName): { value: string; file: string } {
  const file = join(dataDir, SECRET_FILES[which]);
  const value = randomBytes(32).toString('base64url');
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, `${value}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(temp, file);
  return { value, file };
}

/** Records a rotation (never the value). Call in a write transaction. */
export function recordRotation(db: WritableDB, now: number, which: SecretName, actor: string): void {
  writeMeta(db, ROTATED[which], now);
  writeAudit(db, now, actor, 'settings.rotate_secret', which, {});
}

export function vaultWrapKinds(db: ReadableDB): { passphrase: boolean; secretStore: boolean } {
  const kinds = stmt(db, 'SELECT kind FROM vault_wraps').pluck().all() as string[];
  return { passphrase: kinds.includes('passphrase'), secretStore: kinds.includes('secret_store') };
}

/** Whether `passphrase` opens the vault's passphrase wrap to this data key. Slow (scrypt): call outside a transaction. */
export function passphraseOpens(db: ReadableDB, vault: UnlockedVault, passphrase: string): boolean {
  const row = stmt(db, `SELECT salt, params, wrapped FROM vault_wraps WHERE kind = 'passphrase'`).get() as
    { salt: Buffer | null; params: string | null; wrapped: Buffer } | undefined;
  if (!row?.salt) return false;
  try {
    const params = JSON.parse(row.params ?? 'null') as typeof SCRYPT_PARAMS | null;
    return unwrapDataKey(passphraseKek(passphrase, row.salt, params ?? SCRYPT_PARAMS), row.wrapped, 'passphrase').equals(
      vault.dataKey,
    );
  } catch (error) {
    if (error instanceof VaultCryptoError) return false;
    throw error;
  }
}

/** A passphrase wrap computed outside the write lock (scrypt is slow); store it with `storePassphraseWrap`. */
export function preparePassphraseWrap(vault: UnlockedVault, passphrase: string): { salt: Buffer; wrapped: Buffer } {
  if (passphrase.length < 8) throw new EngineError('validation_failed', 'a vault passphrase needs at least 8 characters');
  const salt = randomBytes(16);
  return { salt, wrapped: wrapDataKey(passphraseKek(passphrase, salt), vault.dataKey, 'passphrase') };
}

export function storePassphraseWrap(
  db: WritableDB,
  now: number,
  wrap: { salt: Buffer; wrapped: Buffer },
  actor: string,
  changed: boolean,
): void {
  stmt(
    db,
    `INSERT INTO vault_wraps (kind, salt, params, wrapped, created_at) VALUES ('passphrase', ?, ?, ?, ?)
     ON CONFLICT (kind) DO UPDATE SET salt = excluded.salt, params = excluded.params, wrapped = excluded.wrapped, created_at = excluded.created_at`,
  ).run(wrap.salt, JSON.stringify(SCRYPT_PARAMS), wrap.wrapped, now);
  writeAudit(db, now, actor, changed ? 'vault.change_passphrase' : 'vault.set_passphrase', 'vault', {});
}

export interface BackupSummary {
  readonly file: string;
  readonly schemaVersion: number;
  readonly keys: number;
  readonly orders: number;
  readonly ledgerOk: boolean;
  readonly ledgerEntries: number;
}

/** Checks a database file: integrity, ledger, and (given the vault) that its codes open with this shop's key. */
export function inspectDatabase(db: ReadableDB, file: string, vault?: UnlockedVault): BackupSummary {
  const integrity = db.pragma('integrity_check', { simple: true });
  if (integrity !== 'ok')
    throw new EngineError('validation_failed', `${file} fails SQLite's integrity check: ${String(integrity).slice(0, 200)}`);
  if (vault) {
    const sample = stmt(
      db,
      'SELECT p.id AS product_id, k.fingerprint, k.sealed FROM keys k JOIN products p ON p.no = k.product_no ORDER BY k.id LIMIT 1',
    ).get() as { product_id: string; fingerprint: Buffer; sealed: Buffer } | undefined;
    if (sample) {
      try {
        open(vault.sealKey, sample.sealed, keyAad(sample.product_id, sample.fingerprint));
      } catch {
        throw new EngineError(
          'validation_failed',
          `the codes in ${file} were sealed by another vault key; this shop could not open them`,
        );
      }
    }
  }
  const ledger = verifyLedger(db);
  return {
    file,
    schemaVersion: schemaVersion(db),
    keys: db.prepare('SELECT count(*) FROM keys').pluck().get() as number,
    orders: db.prepare('SELECT count(*) FROM orders').pluck().get() as number,
    ledgerOk: ledger.ok,
    ledgerEntries: ledger.entries,
  };
}

/** Opens a finished backup read-only and checks it. */
export function checkBackup(file: string): BackupSummary {
  const copy = openReadOnly(file);
  try {
    return inspectDatabase(copy, file);
  } finally {
    copy.close();
  }
}

export interface PendingRestore {
  readonly stagedAt: string;
  readonly source: string;
}

export function pendingRestore(dataDir: string): PendingRestore | null {
  if (!existsSync(join(dataDir, RESTORE_FILE))) return null;
  try {
    const note = JSON.parse(readFileSync(join(dataDir, RESTORE_NOTE), 'utf8')) as Partial<PendingRestore>;
    if (typeof note.stagedAt === 'string' && typeof note.source === 'string')
      return { stagedAt: note.stagedAt, source: note.source };
  } catch {
    // no note: still pending
  }
  return { stagedAt: new Date(0).toISOString(), source: RESTORE_FILE };
}

/**
 * Copies `source` into the data folder, brings it to this version's schema, and refuses it unless it
 * passes the integrity check, its ledger verifies and its codes open with this shop's vault key. On
 * success it waits in `restore-pending.db` until the next start (see applyStagedRestore).
 */
export function stageRestore(
  dataDir: string,
  source: string,
  vault: UnlockedVault,
  now: number,
): BackupSummary & { stagedAt: string } {
  if (!existsSync(source)) throw new EngineError('validation_failed', `${source} does not exist`);
  const staged = join(dataDir, RESTORE_FILE);
  const temp = `${staged}.${randomBytes(6).toString('hex')}.tmp`;
  const cleanup = (): void => {
    for (const f of [temp, `${temp}-wal`, `${temp}-shm`]) rmSync(f, { force: true });
  };
  try {
    try {
      copyFileSync(source, temp);
    } catch (error) {
      throw new EngineError('validation_failed', `cannot read ${source}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    let db: WritableDB;
    try {
      db = openDatabase(temp, { busyTimeoutMs: 1000 });
    } catch (error) {
      throw new EngineError(
        'validation_failed',
        `${source} is not a OnceKey database this version can open: ${(error as Error).message.slice(0, 200)}`,
      );
    }
    let summary: BackupSummary;
    try {
      summary = inspectDatabase(db, source, vault);
      if (!summary.ledgerOk)
        throw new EngineError('validation_failed', `the ledger in ${source} does not verify; it will not replace this shop`);
      // Leave one self-contained file behind.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.pragma('journal_mode = DELETE');
    } finally {
      db.close();
    }
    renameSync(temp, staged);
    const stagedAt = new Date(now).toISOString();
    writeFileSync(join(dataDir, RESTORE_NOTE), JSON.stringify({ stagedAt, source }), { mode: 0o600 });
    return { ...summary, stagedAt };
  } finally {
    cleanup();
  }
}

export function cancelRestore(dataDir: string): boolean {
  const had = existsSync(join(dataDir, RESTORE_FILE));
  rmSync(join(dataDir, RESTORE_FILE), { force: true });
  rmSync(join(dataDir, RESTORE_NOTE), { force: true });
  return had;
}

/**
 * At start, before the database is opened: puts a staged restore in place. The old database (with its
 * WAL, which may hold its last commits) is kept beside it as `shop.db.before-restore-<time>`.
 * Every process using the folder must be stopped first; the Settings page says so.
 */
export function applyStagedRestore(dataDir: string, dbFile: string, now = Date.now()): string | null {
  const staged = join(dataDir, RESTORE_FILE);
  if (!existsSync(staged)) return null;
  const live = join(dataDir, dbFile);
  const kept = `${live}.before-restore-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
  if (existsSync(live)) {
    renameSync(live, kept);
    for (const suffix of ['-wal', '-shm']) if (existsSync(live + suffix)) renameSync(live + suffix, kept + suffix);
  }
  renameSync(staged, live);
  rmSync(join(dataDir, RESTORE_NOTE), { force: true });
  return kept;
}

/**
 * What a starting endpoint should use: a value given on the command line wins, then the one saved on
 * the Settings page, then the default. (`serve` and the desktop start pass what they were given.)
 */
export function resolveStartSettings(
  db: ReadableDB,
  given: { host?: string | undefined; port?: number | undefined; maxOrdersPerEmail?: number | undefined },
): { host: string; port: number; maxOrdersPerEmail: number } {
  const saved = readSettings(db);
  return {
    host: given.host ?? saved.host,
    port: given.port ?? saved.port,
    maxOrdersPerEmail: given.maxOrdersPerEmail ?? saved.purchaseLimit,
  };
}
