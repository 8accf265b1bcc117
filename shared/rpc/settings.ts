/**
 * The Settings page's methods. Shop settings live in the database's `meta` table (keys `settings.*`),
 * so every process serving the shop reads the same values; the ones a running endpoint cannot change
 * (host, port, purchase limit) apply at the next start, and the reply says so. Secrets are shown once,
 * right after rotation, and never again.
 */
import { z } from 'zod';
import { method } from './method';

/** An IP literal or a host name (the renderer checks a draft with it without running zod). */
export const HOST_PATTERN =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9A-Fa-f:.]+)$/;

/** A host the endpoint may listen on: an IP literal or a host name. */
export const Host = z.string().trim().min(1).max(253).regex(HOST_PATTERN, 'a host is an IP address or a host name');

/** Hosts that only this PC can reach. Anything else lets other machines on the network in. */
export const LOCAL_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];

export function isLocalHost(host: string): boolean {
  return LOCAL_HOSTS.includes(host.trim().toLowerCase());
}

/** Settings that take effect only when the endpoint starts again. */
export const RESTART_SETTINGS = ['host', 'port', 'purchaseLimit'] as const;

export const ShopSettings = z.object({
  host: Host,
  port: z.int().min(1).max(65535),
  /** How long an unpaid order holds its keys. */
  holdMinutes: z
    .int()
    .min(1)
    .max(7 * 24 * 60),
  /** Most live orders one e-mail may hold per product within 24 hours; 0 means no limit. */
  purchaseLimit: z.int().min(0).max(1000),
  /**
   * The shop's address as payment gateways and returning buyers reach it (a reverse proxy's https URL, say);
   * empty: the address the endpoint listens on. Notification URLs are built from it.
   */
  publicUrl: z.union([
    z.literal(''),
    z
      .url({ protocol: /^https?$/, error: 'a public address is an http:// or https:// URL' })
      .max(500)
      .transform((url) => url.replace(/\/+$/, '')),
  ]),
});
export type ShopSettings = z.infer<typeof ShopSettings>;

export const SettingsView = ShopSettings.extend({
  /** Listening on `host` lets other machines reach the shop. */
  exposed: z.boolean(),
  /** Ways the vault opens. */
  vault: z.object({ passphrase: z.boolean(), secretStore: z.boolean() }),
  /** When each secret was last rotated from here (null: never). */
  secrets: z.object({ adminTokenRotatedAt: z.iso.datetime().nullable(), webhookSecretRotatedAt: z.iso.datetime().nullable() }),
  /** A validated backup waiting to replace the database at the next start. */
  pendingRestore: z.object({ stagedAt: z.iso.datetime(), source: z.string() }).nullable(),
  dataDir: z.string(),
  /**
   * Where the shop's rows live: the SQLite database file in `dataDir`, or a PostgreSQL server, whose
   * location is its URL with the password replaced (never the password itself); then `dataDir` holds
   * only this server's vault key and secrets.
   */
  backend: z.object({ kind: z.enum(['sqlite', 'postgres']), location: z.string() }),
});
export type SettingsView = z.infer<typeof SettingsView>;

const BackupSummary = z.object({
  file: z.string(),
  schemaVersion: z.int(),
  keys: z.int().min(0),
  orders: z.int().min(0),
  ledgerOk: z.boolean(),
  ledgerEntries: z.int().min(0),
});

const AbsolutePath = z
  .string()
  .trim()
  .min(1)
  .max(4096)
  .refine(
    (p) => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\'),
    'give a full path (from the root of a drive)',
  );

export const settingsMethods = {
  'settings.get': method({
    summary: "the shop's settings and the state of its secrets, vault and pending restore",
    writes: false,
    input: z.strictObject({}),
    output: SettingsView,
  }),
  'settings.set': method({
    summary: 'change shop settings; the reply lists the ones that wait for the next start',
    writes: true,
    input: ShopSettings.partial().strict(),
    output: z.object({ settings: SettingsView, restartNeeded: z.array(z.enum(RESTART_SETTINGS)) }),
  }),
  'settings.rotateSecret': method({
    summary: 'replace the admin token or the webhook secret; the new value is returned this once',
    writes: true,
    input: z.strictObject({ which: z.enum(['adminToken', 'webhookSecret']) }),
    output: z.object({
      which: z.enum(['adminToken', 'webhookSecret']),
      value: z.string(),
      file: z.string(),
      restartNeeded: z.literal(true),
    }),
  }),
  'settings.setPassphrase': method({
    summary: 'set or change the passphrase that unlocks the vault (the current one is required to change it)',
    writes: true,
    input: z.strictObject({
      current: z.string().max(1024).optional(),
      passphrase: z.string().min(8, 'at least 8 characters').max(1024),
    }),
    output: z.object({ changed: z.boolean() }),
  }),
  'settings.backup': method({
    summary: 'SQLite online backup to a file, checked by reopening it and verifying its ledger',
    writes: false,
    input: z.strictObject({ path: AbsolutePath, overwrite: z.boolean().default(false) }),
    output: BackupSummary,
  }),
  'settings.restore': method({
    summary:
      'validate a backup (opens, migrates, ledger verifies, codes decrypt) and stage it to replace the database at the next start',
    writes: true,
    input: z.strictObject({ path: AbsolutePath }),
    output: BackupSummary.extend({ stagedAt: z.iso.datetime() }),
  }),
  'settings.cancelRestore': method({
    summary: 'drop a staged restore',
    writes: true,
    input: z.strictObject({}),
    output: z.object({ cancelled: z.boolean() }),
  }),
} as const;
