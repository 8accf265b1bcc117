/**
 * The owner's channel settings in `payment_channels`: the fields that are not secret as JSON, the secret
 * ones (keys, private keys, the APIv3 key, webhook secrets) sealed by the vault with AES-256-GCM, the
 * channel's name bound as associated data, like codes. A secret leaves this file only opened in memory,
 * for the channel that signs with it; listings name the fields that are set, never a value.
 *
 * What a row holds and what a change writes is decided here for both backends; the stores
 * (store-sqlite.ts, pg/payments.ts) read and write the rows.
 */
import { CHANNEL_SETTINGS, channelFields, isSecretField, type ChannelName, type ChannelSettings } from '../../shared/payments';
import { EngineError } from '../lib/errors';
import { open, seal, type VaultKeys } from '../vault/crypto';
import type { AuditEntry } from './records';

const aad = (name: ChannelName): string => `oncekey/payment-channel/${name}`;

export interface ChannelRow {
  readonly name: ChannelName;
  readonly enabled: number;
  readonly settings: string;
  readonly sealed: Buffer;
  readonly updated_at: number;
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

/** When a channel was last changed (a cheap read: no secret is opened). */
export interface ChannelVersion {
  readonly enabled: boolean;
  readonly updatedAt: number;
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

/** A row as listings show it. */
export function channelSummary(vault: VaultKeys, r: ChannelRow): ChannelSummary {
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

/** A row with its secrets opened, for the channel that signs with them. */
export function storedChannel<C extends ChannelName>(vault: VaultKeys, r: ChannelRow & { name: C }): StoredChannel<C> {
  const settings = { ...(JSON.parse(r.settings) as object), ...openSecrets(vault, r) };
  return {
    name: r.name,
    enabled: r.enabled === 1,
    settings: CHANNEL_SETTINGS[r.name].parse(settings) as ChannelSettings[C],
    updatedAt: r.updated_at,
  };
}

/** Every configured channel, without secrets, in the buyer page's order. */
export function channelSummaries(vault: VaultKeys, rows: readonly ChannelRow[]): ChannelSummary[] {
  const order = (name: ChannelName): number => Object.keys(CHANNEL_SETTINGS).indexOf(name);
  return [...rows].sort((a, b) => order(a.name) - order(b.name)).map((r) => channelSummary(vault, r));
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
 * Validates a channel's new settings against what is stored (`existing`, read in the writing
 * transaction) and gives the row to store and its audit row, without any secret's value. A secret field
 * left out keeps its stored value, so the owner can change the gateway address without typing the key
 * again; every other field is validated as given. The store writes `updated_at` as
 * max(now, the stored one + 1), so a change is always seen as one.
 */
export function channelWrite(
  vault: VaultKeys,
  name: ChannelName,
  input: ChannelInput,
  existing: ChannelRow | undefined,
  actor: string,
): { enabled: number; settings: string; sealed: Buffer; audit: AuditEntry } {
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
  return {
    enabled: enabled ? 1 : 0,
    settings: JSON.stringify(plain),
    sealed: seal(vault.sealKey, JSON.stringify(secret), aad(name)),
    audit: {
      actor,
      action: existing ? 'payments.update_channel' : 'payments.add_channel',
      subject: `channel:${name}`,
      detail: {
        enabled,
        fields: Object.keys(input.settings).filter((f) => f in (parsed.data as object)),
        secretsKept: Object.keys(keptSecrets).filter((f) => !(f in input.settings)),
      },
    },
  };
}

/** The audit row of switching a channel on or off. */
export const enabledAudit = (name: ChannelName, enabled: boolean, actor: string): AuditEntry => ({
  actor,
  action: enabled ? 'payments.enable_channel' : 'payments.disable_channel',
  subject: `channel:${name}`,
  detail: {},
});

/** The audit row of forgetting a channel's settings and secrets. */
export const removedAudit = (name: ChannelName, actor: string): AuditEntry => ({
  actor,
  action: 'payments.remove_channel',
  subject: `channel:${name}`,
  detail: {},
});

export const notConfigured = (name: ChannelName): EngineError =>
  new EngineError('channel_not_configured', `the ${name} channel is not configured`);
