/**
 * Handlers for shared/rpc/settings.ts. Settings are stored in `meta`; the hold applies at once to this
 * engine, host, port and the purchase limit at the next start of the endpoint. Secrets are written to
 * the files `oncekey serve` reads and returned this once. Restore is validated and staged for the next
 * start, never swapped under the running engine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isLocalHost, RESTART_SETTINGS, type settingsMethods, type SettingsView } from '../../../shared/rpc/settings';
import { DB_FILE, type Engine } from '../../engine/engine';
import {
  cancelRestore,
  checkBackup,
  passphraseOpens,
  pendingRestore,
  preparePassphraseWrap,
  readSettings,
  recordRotation,
  rotatedAt,
  stageRestore,
  storePassphraseWrap,
  vaultWrapKinds,
  writeNewSecret,
  writeSettings,
} from '../../engine/settings';
import { type Handlers, RpcError, sqliteOnly } from '../dispatcher';

function view(engine: Engine): SettingsView {
  const settings = readSettings(engine.db);
  return {
    ...settings,
    exposed: !isLocalHost(settings.host),
    vault: vaultWrapKinds(engine.db),
    secrets: {
      adminTokenRotatedAt: rotatedAt(engine.db, 'adminToken'),
      webhookSecretRotatedAt: rotatedAt(engine.db, 'webhookSecret'),
    },
    pendingRestore: pendingRestore(engine.dataDir),
    dataDir: engine.dataDir,
    // The admin API runs on the SQLite engine only; a PostgreSQL shop would name its redactUrl() here.
    backend: { kind: 'sqlite', location: join(engine.dataDir, DB_FILE) },
  };
}

export const settingsHandlers: Handlers<keyof typeof settingsMethods> = {
  'settings.get': (_input, ctx) => view(sqliteOnly(ctx, 'Settings')),
  'settings.set': async (input, ctx) => {
    const engine = sqliteOnly(ctx, 'Settings');
    const { actor } = ctx;
    const changed = await engine.writer.run((db, now) => writeSettings(db, now, input, actor));
    if (changed.includes('holdMinutes') && input.holdMinutes !== undefined) engine.holdSeconds = input.holdMinutes * 60;
    const restartNeeded = RESTART_SETTINGS.filter((name) => changed.includes(name));
    return { settings: view(engine), restartNeeded };
  },
  'settings.rotateSecret': async (input, ctx) => {
    const engine = sqliteOnly(ctx, 'Settings');
    const { actor } = ctx;
    const { value, file } = writeNewSecret(engine.dataDir, input.which);
    await engine.writer.run((db, now) => recordRotation(db, now, input.which, actor));
    return { which: input.which, value, file, restartNeeded: true as const };
  },
  'settings.setPassphrase': async (input, ctx) => {
    const engine = sqliteOnly(ctx, 'Settings');
    const { actor } = ctx;
    const has = vaultWrapKinds(engine.db).passphrase;
    if (has && (input.current === undefined || !passphraseOpens(engine.db, engine.vault, input.current))) {
      throw new RpcError('validation_failed', 'current: the current passphrase is not right');
    }
    const wrap = preparePassphraseWrap(engine.vault, input.passphrase);
    await engine.writer.run((db, now) => storePassphraseWrap(db, now, wrap, actor, has));
    return { changed: has };
  },
  'settings.backup': async (input, ctx) => {
    const engine = sqliteOnly(ctx, 'Settings');
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
    const engine = sqliteOnly(ctx, 'Restoring a backup');
    return stageRestore(engine.dataDir, input.path, engine.vault, engine.clock());
  },
  'settings.cancelRestore': (_input, ctx) => ({ cancelled: cancelRestore(sqliteOnly(ctx, 'Restoring a backup').dataDir) }),
};
