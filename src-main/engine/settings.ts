/**
 * Shop settings kept in the database's `meta` table (`settings.*` keys, JSON values), so every process
 * serving one shop reads the same ones, on either backend; secret rotation (the files `oncekey serve`
 * reads, see lib/secrets.ts); and the vault passphrase. Backup and restore (SQLite only) are in
 * engine/backup.ts.
 *
 * The rules are written once: what a stored value means (settingsFrom), what a change writes and audits
 * (settingsWrite, rotationWrite, passphraseWrite). The SQLite engine reads and writes them synchronously
 * on its connection (readSettings, writeSettings, ...); the admin app reads them on either backend through
 * a SqlReader (readSettingsView, passphraseOpens), and PostgreSQL stores a write in its own transaction
 * (rpc/handlers/settings.ts).
 */
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeAudit } from '../db/audit';
import type { SqlReader } from '../db/sql';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { passphraseKek, SCRYPT_PARAMS, unwrapDataKey, VaultCryptoError, wrapDataKey } from '../vault/crypto';
import type { UnlockedVault } from '../vault/vault';

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

// Backup and restore (SQLite only) live in engine/backup.ts; the engine's start applies a staged restore.
export { applyStagedRestore } from './backup';

/** Stored `meta` values by key, decoded (undefined: absent or unreadable), however a backend read them. */
type MetaValues = (key: string) => unknown;

/** A `meta` value as stored: JSON in a BLOB (SQLite) or a BYTEA (PostgreSQL). */
function decodeMeta(value: Uint8Array | undefined): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(Buffer.from(value).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const encodeMeta = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

function readMeta(db: ReadableDB, key: string): unknown {
  return decodeMeta(stmt(db, 'SELECT value FROM meta WHERE key = ?').pluck().get(key) as Buffer | undefined);
}

/** Every `settings.*` value in one read on either backend (db/sql.ts; no parameters, so any `all` runs it). */
async function readMetaSql(sql: Pick<SqlReader, 'all'>): Promise<MetaValues> {
  const rows = await sql.all<{ key: string; value: Uint8Array }>(`SELECT key, value FROM meta WHERE key LIKE 'settings.%'`);
  const values = new Map(rows.map((row) => [row.key, decodeMeta(row.value)]));
  return (key) => values.get(key);
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/** The rules: each stored setting, or its default when absent or unreadable. */
function settingsFrom(meta: MetaValues): ShopSettings {
  const host = meta(KEYS.host);
  const port = meta(KEYS.port);
  const hold = meta(KEYS.holdMinutes);
  const limit = meta(KEYS.purchaseLimit);
  const publicUrl = meta(KEYS.publicUrl);
  return {
    host: typeof host === 'string' && host !== '' ? host : DEFAULT_SETTINGS.host,
    port: isInt(port, 1, 65535) ? port : DEFAULT_SETTINGS.port,
    holdMinutes: isInt(hold, 1, 7 * 24 * 60) ? hold : DEFAULT_SETTINGS.holdMinutes,
    purchaseLimit: isInt(limit, 0, 1000) ? limit : DEFAULT_SETTINGS.purchaseLimit,
    publicUrl: typeof publicUrl === 'string' && /^https?:\/\//.test(publicUrl) ? publicUrl : DEFAULT_SETTINGS.publicUrl,
  };
}

function rotatedFrom(meta: MetaValues, which: SecretName): string | null {
  const at = meta(ROTATED[which]);
  return typeof at === 'number' ? new Date(at).toISOString() : null;
}

/** The stored settings on the SQLite engine's connection. */
export function readSettings(db: ReadableDB): ShopSettings {
  return settingsFrom((key) => readMeta(db, key));
}

/** The stored settings on either backend. */
export async function readSettingsSql(sql: Pick<SqlReader, 'all'>): Promise<ShopSettings> {
  return settingsFrom(await readMetaSql(sql));
}

/** The stored hold, in seconds, when the owner set one (the engine's default otherwise). */
export function storedHoldSeconds(db: ReadableDB): number | undefined {
  const hold = readMeta(db, KEYS.holdMinutes);
  return isInt(hold, 1, 7 * 24 * 60) ? hold * 60 : undefined;
}

/** What the Settings page shows from the database, on either backend. */
export interface StoredSettings {
  readonly settings: ShopSettings;
  readonly rotatedAt: Readonly<Record<SecretName, string | null>>;
  /** Ways the vault opens (its `vault_wraps` rows). */
  readonly vault: { readonly passphrase: boolean; readonly secretStore: boolean };
}

export async function readSettingsView(sql: SqlReader): Promise<StoredSettings> {
  const meta = await readMetaSql(sql);
  const kinds = (await sql.all<{ kind: string }>('SELECT kind FROM vault_wraps')).map((row) => row.kind);
  return {
    settings: settingsFrom(meta),
    rotatedAt: { adminToken: rotatedFrom(meta, 'adminToken'), webhookSecret: rotatedFrom(meta, 'webhookSecret') },
    vault: { passphrase: kinds.includes('passphrase'), secretStore: kinds.includes('secret_store') },
  };
}

/** An audit row a settings write adds (db/audit.ts; pg/order-writes.ts's writeAuditPg). */
export interface SettingsAudit {
  readonly actor: string;
  readonly action: string;
  readonly subject: string;
  readonly detail: Record<string, unknown>;
}

/** What a change stores, decided once for both backends: `meta` values (encoded) and its audit row. */
export interface SettingsWrite {
  readonly meta: readonly { readonly key: string; readonly value: Buffer }[];
  readonly audit: SettingsAudit | null;
}

/** The settings `patch` changes from `before` (equal values are no change), their writes and one audit row. */
export function settingsWrite(
  before: ShopSettings,
  patch: Partial<ShopSettings>,
  actor: string,
): SettingsWrite & { changed: (keyof ShopSettings)[] } {
  const changed = (Object.keys(KEYS) as (keyof ShopSettings)[]).filter(
    (name) => patch[name] !== undefined && patch[name] !== before[name],
  );
  const detail: Record<string, unknown> = {};
  for (const name of changed) detail[name] = { from: before[name], to: patch[name] };
  return {
    changed,
    meta: changed.map((name) => ({ key: KEYS[name], value: encodeMeta(patch[name]) })),
    audit: changed.length > 0 ? { actor, action: 'settings.set', subject: 'settings', detail } : null,
  };
}

/** A rotation's record (its time, never the value). */
export function rotationWrite(now: number, which: SecretName, actor: string): SettingsWrite {
  return {
    meta: [{ key: ROTATED[which], value: encodeMeta(now) }],
    audit: { actor, action: 'settings.rotate_secret', subject: which, detail: {} },
  };
}

/** Stores one of a SettingsWrite's `meta` values (key, value): the SQL both backends run. */
export const STORE_META_SQL =
  'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value';

function storeWrite(db: WritableDB, now: number, write: SettingsWrite): void {
  for (const { key, value } of write.meta) stmt(db, STORE_META_SQL).run(key, value);
  if (write.audit) writeAudit(db, now, write.audit.actor, write.audit.action, write.audit.subject, write.audit.detail);
}

/** Stores the given settings and audits the change; returns the ones that changed. Call in a write transaction. */
export function writeSettings(db: WritableDB, now: number, patch: Partial<ShopSettings>, actor: string): (keyof ShopSettings)[] {
  const write = settingsWrite(readSettings(db), patch, actor);
  storeWrite(db, now, write);
  return write.changed;
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
  storeWrite(db, now, rotationWrite(now, which, actor));
}

/** Whether `passphrase` opens the vault's passphrase wrap to this data key, on either backend. Slow (scrypt): call outside a transaction. */
export async function passphraseOpens(sql: SqlReader, vault: UnlockedVault, passphrase: string): Promise<boolean> {
  const row = await sql.get<{ salt: Uint8Array | null; params: string | null; wrapped: Uint8Array }>(
    `SELECT salt, params, wrapped FROM vault_wraps WHERE kind = 'passphrase'`,
  );
  if (!row?.salt) return false;
  try {
    const params = JSON.parse(row.params ?? 'null') as typeof SCRYPT_PARAMS | null;
    const kek = passphraseKek(passphrase, Buffer.from(row.salt), params ?? SCRYPT_PARAMS);
    return unwrapDataKey(kek, Buffer.from(row.wrapped), 'passphrase').equals(vault.dataKey);
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

/**
 * The passphrase wrap's row (the one SQL text both backends run, `?` placeholders) and its audit row;
 * `changed`: it replaces a passphrase.
 */
export function passphraseWrite(
  now: number,
  wrap: { salt: Buffer; wrapped: Buffer },
  actor: string,
  changed: boolean,
): { sql: string; params: unknown[]; audit: SettingsAudit } {
  return {
    sql: `INSERT INTO vault_wraps (kind, salt, params, wrapped, created_at) VALUES ('passphrase', ?, ?, ?, ?)
     ON CONFLICT (kind) DO UPDATE SET salt = excluded.salt, params = excluded.params, wrapped = excluded.wrapped, created_at = excluded.created_at`,
    params: [wrap.salt, JSON.stringify(SCRYPT_PARAMS), wrap.wrapped, now],
    audit: { actor, action: changed ? 'vault.change_passphrase' : 'vault.set_passphrase', subject: 'vault', detail: {} },
  };
}

export function storePassphraseWrap(
  db: WritableDB,
  now: number,
  wrap: { salt: Buffer; wrapped: Buffer },
  actor: string,
  changed: boolean,
): void {
  const write = passphraseWrite(now, wrap, actor, changed);
  stmt(db, write.sql).run(...write.params);
  writeAudit(db, now, write.audit.actor, write.audit.action, write.audit.subject, write.audit.detail);
}

/**
 * What a starting endpoint uses: a value given on the command line wins, then the one saved on the
 * Settings page (`saved`, read by the starting backend), then the default (which `saved` carries).
 */
export function resolveStartSettings(
  saved: Pick<ShopSettings, 'host' | 'port' | 'purchaseLimit'>,
  given: { host?: string | undefined; port?: number | undefined; maxOrdersPerEmail?: number | undefined },
): { host: string; port: number; maxOrdersPerEmail: number } {
  return {
    host: given.host ?? saved.host,
    port: given.port ?? saved.port,
    maxOrdersPerEmail: given.maxOrdersPerEmail ?? saved.purchaseLimit,
  };
}
