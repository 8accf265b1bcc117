/**
 * Handlers for shared/rpc/settings.ts, on either backend. Settings are stored in `meta`; the hold and
 * the public address apply at once to this server, host, port and the purchase limit at the next start
 * of the endpoint. Secrets are written to the files `oncekey serve` reads (this host's shop folder) and
 * returned this once. What a change writes and audits is decided once (engine/settings.ts): the SQLite
 * engine stores it in its writer's transaction, PostgreSQL in one PgShop.write transaction.
 *
 * Backup and restore copy the SQLite file (engine/backup.ts): a restore is validated and staged for the
 * next start, never swapped under the running engine. A PostgreSQL shop is backed up with pg_dump.
 */
import { existsSync } from 'node:fs';
import type pg from 'pg';
import { isLocalHost, RESTART_SETTINGS, type settingsMethods, type SettingsView } from '../../../shared/rpc/settings';
import { cancelRestore, checkBackup, pendingRestore, stageRestore } from '../../engine/backup';
import type { Engine } from '../../engine/engine';
import {
  passphraseOpens,
  passphraseWrite,
  preparePassphraseWrap,
  readSettingsSql,
  readSettingsView,
  recordRotation,
  rotationWrite,
  type SettingsAudit,
  settingsWrite,
  STORE_META_SQL,
  storePassphraseWrap,
  writeNewSecret,
  writeSettings,
  type SettingsWrite,
} from '../../engine/settings';
import { writeAuditPg } from '../../pg/order-writes';
import { type Handlers, onBackend, type RpcContext, RpcError } from '../dispatcher';
import { pgReader, toPostgres } from '../../pg/sql';

async function view(ctx: RpcContext): Promise<SettingsView> {
  const stored = await readSettingsView(ctx.shop.sql);
  return {
    ...stored.settings,
    exposed: !isLocalHost(stored.settings.host),
    vault: stored.vault,
    secrets: { adminTokenRotatedAt: stored.rotatedAt.adminToken, webhookSecretRotatedAt: stored.rotatedAt.webhookSecret },
    // A staged restore is a SQLite file in the shop's folder; a PostgreSQL shop has none.
    pendingRestore: ctx.engine ? pendingRestore(ctx.engine.dataDir) : null,
    dataDir: ctx.dataDir,
    backend: { kind: ctx.shop.backend, location: ctx.shop.location },
  };
}

const auditPg = (client: pg.PoolClient, now: number, audit: SettingsAudit) =>
  writeAuditPg(client, now, audit.actor, audit.action, audit.subject, audit.detail);

/** A SettingsWrite in a PostgreSQL transaction. */
async function storeWritePg(client: pg.PoolClient, now: number, write: SettingsWrite): Promise<void> {
  for (const { key, value } of write.meta) await client.query(toPostgres(STORE_META_SQL), [key, value]);
  if (write.audit) await auditPg(client, now, write.audit);
}

/** The engine's vault (its data key), which a passphrase wraps: the SQLite engine's or the PostgreSQL shop's. */
const unlockedVault = (ctx: RpcContext) => onBackend(ctx, { sqlite: (engine) => engine.vault, postgres: (shop) => shop.vault });

/** Backup and restore copy the SQLite file; on PostgreSQL a failure that says how such a shop is backed up. */
function sqliteFile(ctx: RpcContext, what: string): Engine {
  if (ctx.engine) return ctx.engine;
  throw new RpcError(
    'not_found',
    `${what} copies a SQLite shop's database file; this shop runs on PostgreSQL: back it up with pg_dump (and restore with pg_restore or psql)`,
  );
}

export const settingsHandlers: Handlers<keyof typeof settingsMethods> = {
  'settings.get': (_input, ctx) => view(ctx),
  'settings.set': async (input, ctx) => {
    const { actor } = ctx;
    const changed = await onBackend(ctx, {
      sqlite: (engine) => engine.writer.run((db, now) => writeSettings(db, now, input, actor)),
      postgres: (shop) =>
        shop.write(async (client, now) => {
          // One settings change at a time: the audit's `from` is the value this change replaced.
          await client.query('LOCK TABLE meta IN EXCLUSIVE MODE');
          const write = settingsWrite(await readSettingsSql(pgReader(client)), input, actor);
          await storeWritePg(client, now, write);
          return write.changed;
        }, false),
    });
    // This server applies a new hold and public address at once (SQLite's payment store reads the saved
    // address on every use). Other servers sharing a PostgreSQL database read `meta` when they open: they
    // pick the change up at their next start.
    const { holdMinutes, publicUrl } = input;
    const newHold = changed.includes('holdMinutes') && holdMinutes !== undefined ? holdMinutes * 60 : undefined;
    onBackend(ctx, {
      sqlite: (engine) => {
        if (newHold !== undefined) engine.holdSeconds = newHold;
      },
      postgres: (shop) => {
        if (newHold !== undefined) shop.holdSeconds = newHold;
        if (changed.includes('publicUrl') && publicUrl !== undefined) shop.savedPublicUrl = publicUrl;
      },
    });
    const restartNeeded = RESTART_SETTINGS.filter((name) => changed.includes(name));
    return { settings: await view(ctx), restartNeeded };
  },
  'settings.rotateSecret': async (input, ctx) => {
    const { actor } = ctx;
    // This host's file: on PostgreSQL every server keeps its own secrets in its own folder.
    const { value, file } = writeNewSecret(ctx.dataDir, input.which);
    await onBackend(ctx, {
      sqlite: (engine) => engine.writer.run((db, now) => recordRotation(db, now, input.which, actor)),
      postgres: (shop) => shop.write((client, now) => storeWritePg(client, now, rotationWrite(now, input.which, actor)), false),
    });
    return { which: input.which, value, file, restartNeeded: true as const };
  },
  'settings.setPassphrase': async (input, ctx) => {
    const { actor } = ctx;
    const vault = unlockedVault(ctx);
    const has = (await readSettingsView(ctx.shop.sql)).vault.passphrase;
    if (has && (input.current === undefined || !(await passphraseOpens(ctx.shop.sql, vault, input.current)))) {
      throw new RpcError('validation_failed', 'current: the current passphrase is not right');
    }
    const wrap = preparePassphraseWrap(vault, input.passphrase);
    await onBackend(ctx, {
      sqlite: (engine) => engine.writer.run((db, now) => storePassphraseWrap(db, now, wrap, actor, has)),
      postgres: (shop) =>
        shop.write(async (client, now) => {
          const write = passphraseWrite(now, wrap, actor, has);
          await client.query(toPostgres(write.sql), write.params);
          await auditPg(client, now, write.audit);
        }, false),
    });
    return { changed: has };
  },
  'settings.backup': async (input, ctx) => {
    const engine = sqliteFile(ctx, 'A backup from the app');
    if (existsSync(input.path) && !input.overwrite) throw new RpcError('validation_failed', `path: ${input.path} already exists`);
    await engine.writer.idle();
    try {
      await engine.db.backup(input.path);
    } catch (error) {
      throw new RpcError(
        'validation_failed',
        `path: cannot write ${input.path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    return checkBackup(input.path);
  },
  'settings.restore': (input, ctx) => {
    const engine = sqliteFile(ctx, 'Restoring a backup from the app');
    return stageRestore(engine.dataDir, input.path, engine.vault, engine.clock());
  },
  'settings.cancelRestore': (_input, ctx) => ({
    cancelled: cancelRestore(sqliteFile(ctx, 'Restoring a backup from the app').dataDir),
  }),
};
