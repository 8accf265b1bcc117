/**
 * The owner's channel settings in `payment_channels`: the fields that are not secret as JSON, the secret
 * ones (keys, private keys, the APIv3 key, webhook secrets) sealed by the vault with AES-256-GCM, the
 * channel's name bound as associated data, like codes. A secret leaves this file only opened in memory,
 * for the channel that signs with it; listings name the fields that are set, never a value.
 */
import { CHANNEL_SETTINGS, channelFields, isSecretField, type ChannelName, type ChannelSettings } from '../../shared/payments';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { writeAudit } from '../db/audit';
import { EngineError } from '../lib/errors';
import { open, seal, type VaultKeys } from '../vault/crypto';

const aad = (name: ChannelName): string => `oncekey/payment-channel/${name}`;

interface ChannelRow {
  name: ChannelName;
  enabled: number;
  settings: string;
  sealed: Buffer;
  updated_at: number;
}

/** A stored channel, secrets opened. */
export interface StoredChannel<C extends ChannelName = ChannelName> {
  readonly name: C;
  readonly enabled: boolean;
  readonly settings: ChannelSettings[C];
  readonly updatedAt: number;
}

/** A stored channel without its secrets: what listings show. */
export interface ChannelSummary {
  readonly name: ChannelName;
  readonly enabled: boolean;
  /** The fields that are set, secrets by name only. */
  readonly fields: string[];
  readonly methods: string[];
  /** The values of the fields that are not secret. */
  readonly settings: Record<string, unknown>;
  readonly updatedAt: number;
}

function row(db: ReadableDB, name: ChannelName): ChannelRow | undefined {
  return stmt(db, 'SELECT * FROM payment_channels WHERE name = ?').get(name) as ChannelRow | undefined;
}

function split(name: ChannelName, settings: Record<string, unknown>) {
  const plain: Record<string, unknown> = {};
  const secret: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(settings)) {
    if (value === undefined) continue;
    (isSecretField(name, field) ? secret : plain)[field] = value;
  }
  return { plain, secret };
}

function openSecrets(vault: VaultKeys, r: ChannelRow): Record<string, unknown> {
  return JSON.parse(open(vault.sealKey, r.sealed, aad(r.name)).toString('utf8')) as Record<string, unknown>;
}

function summary(vault: VaultKeys, r: ChannelRow): ChannelSummary {
  const plain = JSON.parse(r.settings) as Record<string, unknown>;
  const set = new Set([...Object.keys(plain), ...Object.keys(openSecrets(vault, r))]);
  return {
    name: r.name,
    enabled: r.enabled === 1,
    fields: channelFields(r.name).filter((field) => set.has(field)),
    methods: Array.isArray(plain.methods) ? (plain.methods as unknown[]).map(String) : [],
    settings: plain,
    updatedAt: r.updated_at,
  };
}

/** A channel's stored settings with its secrets opened, or null when it is not configured. */
export function readChannel<C extends ChannelName>(db: ReadableDB, vault: VaultKeys, name: C): StoredChannel<C> | null {
  const r = row(db, name);
  if (!r) return null;
  const settings = { ...(JSON.parse(r.settings) as object), ...openSecrets(vault, r) };
  return {
    name,
    enabled: r.enabled === 1,
    settings: CHANNEL_SETTINGS[name].parse(settings) as ChannelSettings[C],
    updatedAt: r.updated_at,
  };
}

/** When each configured channel was last changed (a cheap read: no secret is opened). */
export function channelVersions(db: ReadableDB): Map<ChannelName, { enabled: boolean; updatedAt: number }> {
  const rows = stmt(db, 'SELECT name, enabled, updated_at FROM payment_channels').all() as ChannelRow[];
  return new Map(rows.map((r) => [r.name, { enabled: r.enabled === 1, updatedAt: r.updated_at }]));
}

/** Every configured channel, without secrets, in the buyer page's order. */
export function listChannels(db: ReadableDB, vault: VaultKeys): ChannelSummary[] {
  const rows = stmt(db, 'SELECT * FROM payment_channels').all() as ChannelRow[];
  const order = (name: ChannelName): number => Object.keys(CHANNEL_SETTINGS).indexOf(name);
  return rows.sort((a, b) => order(a.name) - order(b.name)).map((r) => summary(vault, r));
}

/** A validation failure naming its field, as the admin endpoint reports it (422 validation_failed). */
export class ChannelSettingsError extends EngineError {
  constructor(readonly issues: { path: string; message: string }[]) {
    super('validation_failed', issues.map((i) => `${i.path}: ${i.message}`).join('; '), { errors: issues });
  }
}

export interface ChannelInput {
  /** The channel's settings as the owner entered them. A secret left out keeps the stored one. */
  readonly settings: Record<string, unknown>;
  readonly enabled?: boolean;
}

/**
 * Validates and stores a channel's settings (in the caller's write transaction), audited without any
 * secret's value. A secret field left out keeps its stored value, so the owner can change the gateway
 * address without typing the key again; every other field is validated as given.
 */
export function writeChannel(
  db: WritableDB,
  vault: VaultKeys,
  now: number,
  name: ChannelName,
  input: ChannelInput,
  actor: string,
): ChannelSummary {
  const existing = row(db, name);
  const keptSecrets = existing ? openSecrets(vault, existing) : {};
  const merged: Record<string, unknown> = { ...keptSecrets, ...input.settings };
  const parsed = CHANNEL_SETTINGS[name].safeParse(merged);
  if (!parsed.success) {
    throw new ChannelSettingsError(
      parsed.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ path: key, message: 'unknown field' }))
          : [{ path: issue.path.join('.') || '(settings)', message: issue.message }],
      ),
    );
  }
  const { plain, secret } = split(name, parsed.data);
  const enabled = input.enabled ?? (existing ? existing.enabled === 1 : true);
  stmt(
    db,
    `INSERT INTO payment_channels (name, enabled, settings, sealed, updated_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, settings = excluded.settings, sealed = excluded.sealed,
       updated_at = max(excluded.updated_at, payment_channels.updated_at + 1)`,
  ).run(name, enabled ? 1 : 0, JSON.stringify(plain), seal(vault.sealKey, JSON.stringify(secret), aad(name)), now);
  writeAudit(db, now, actor, existing ? 'payments.update_channel' : 'payments.add_channel', `channel:${name}`, {
    enabled,
    fields: Object.keys(input.settings).filter((f) => f in (parsed.data as object)),
    secretsKept: Object.keys(keptSecrets).filter((f) => !(f in input.settings)),
  });
  return summary(vault, row(db, name)!);
}

/** Switches a configured channel on or off. */
export function setChannelEnabled(
  db: WritableDB,
  vault: VaultKeys,
  now: number,
  name: ChannelName,
  enabled: boolean,
  actor: string,
): ChannelSummary {
  const changed = stmt(db, 'UPDATE payment_channels SET enabled = ?, updated_at = max(?, updated_at + 1) WHERE name = ?').run(
    enabled ? 1 : 0,
    now,
    name,
  ).changes;
  if (changed === 0) throw new EngineError('channel_not_configured', `the ${name} channel is not configured`);
  writeAudit(db, now, actor, enabled ? 'payments.enable_channel' : 'payments.disable_channel', `channel:${name}`, {});
  return summary(vault, row(db, name)!);
}

/** Forgets a channel's settings and secrets. Returns false when it was not configured. */
export function deleteChannel(db: WritableDB, now: number, name: ChannelName, actor: string): boolean {
  const removed = stmt(db, 'DELETE FROM payment_channels WHERE name = ?').run(name).changes > 0;
  if (removed) writeAudit(db, now, actor, 'payments.remove_channel', `channel:${name}`, {});
  return removed;
}
