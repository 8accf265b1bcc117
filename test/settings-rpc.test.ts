/** The Settings RPC methods through the real dispatcher: stored settings, secrets, passphrase, backup and staged restore. */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { MethodName, Output } from '../shared/rpc';
import { Engine } from '../src-main/engine/engine';
import { resolveStartSettings } from '../src-main/engine/settings';
import { Dispatcher, sqliteContext } from '../src-main/rpc/dispatcher';
import { HANDLERS } from '../src-main/rpc/handlers';
import { openShop, tempDir } from './helpers/shop';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(keys = 2) {
  const shop = await openShop({ keys });
  let engine = shop.engine;
  cleanups.push(shop.cleanup);
  const dispatcher = new Dispatcher(HANDLERS);
  const call = async <M extends MethodName>(method: M, input: unknown): Promise<Output<M>> => {
    const reply = await dispatcher.dispatch(method, input, sqliteContext(engine, 'desktop:test'));
    if (!reply.ok) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
    return reply.value as Output<M>;
  };
  const fails = async (method: MethodName, input: unknown): Promise<{ code: string; message: string }> => {
    const reply = await dispatcher.dispatch(method, input, sqliteContext(engine, 'desktop:test'));
    if (reply.ok) throw new Error(`${method} should have failed`);
    return reply.error;
  };
  const audit = () =>
    engine.db.prepare('SELECT actor, action, subject, detail FROM audit ORDER BY id').all() as {
      actor: string;
      action: string;
      subject: string;
      detail: string;
    }[];
  /** Closes the engine and opens the same folder again, as the next start would. */
  const restart = async () => {
    await engine.close();
    engine = Engine.open({ dataDir: shop.dir });
    cleanups.push(() => engine.close());
    return engine;
  };
  return {
    ...shop,
    call,
    fails,
    audit,
    restart,
    get engine() {
      return engine;
    },
  };
}

describe('settings.get and settings.set', () => {
  it('starts from the defaults, stores changes in meta, applies the hold at once and says what waits for a restart', async () => {
    const s = await setup();
    const initial = await s.call('settings.get', {});
    expect(initial).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      holdMinutes: 15,
      purchaseLimit: 0,
      exposed: false,
      pendingRestore: null,
    });
    expect(initial.vault).toEqual({ passphrase: false, secretStore: true });
    // The admin API runs on the SQLite engine: its database file in the data folder.
    expect(initial.dataDir).toBe(s.dir);
    expect(initial.backend).toEqual({ kind: 'sqlite', location: join(s.dir, 'shop.db') });
    expect(existsSync(initial.backend.location)).toBe(true);

    const set = await s.call('settings.set', { holdMinutes: 30, port: 9090, host: '0.0.0.0', purchaseLimit: 3 });
    expect(set.restartNeeded.sort()).toEqual(['host', 'port', 'purchaseLimit']);
    expect(set.settings).toMatchObject({ host: '0.0.0.0', port: 9090, holdMinutes: 30, purchaseLimit: 3, exposed: true });
    expect(s.engine.holdSeconds).toBe(1800);
    const { result } = await s.engine.reserve({ productId: s.productId, quantity: 1, email: 'a@example.com' });
    if (!result.ok) throw new Error('reserve failed');
    expect(Date.parse(result.value.expiresAt) - Date.parse(result.value.createdAt)).toBe(1800 * 1000);

    expect(s.audit()).toEqual([expect.objectContaining({ actor: 'desktop:test', action: 'settings.set', subject: 'settings' })]);
    expect(JSON.parse(s.audit()[0]!.detail)).toMatchObject({ holdMinutes: { from: 15, to: 30 } });
    // Unchanged values are not a change.
    expect((await s.call('settings.set', { holdMinutes: 30 })).restartNeeded).toEqual([]);
    expect(s.audit()).toHaveLength(1);

    // The next start uses them unless the command line says otherwise.
    expect(resolveStartSettings(s.engine.db, {})).toEqual({ host: '0.0.0.0', port: 9090, maxOrdersPerEmail: 3 });
    expect(resolveStartSettings(s.engine.db, { host: '127.0.0.1', port: 0 })).toEqual({
      host: '127.0.0.1',
      port: 0,
      maxOrdersPerEmail: 3,
    });
    const engine = await s.restart();
    expect(engine.holdSeconds).toBe(1800);
    expect(await s.call('settings.get', {})).toMatchObject({ host: '0.0.0.0', port: 9090 });
  });

  it('refuses bad values and stores none of them', async () => {
    const s = await setup();
    expect((await s.fails('settings.set', { port: 70000 })).code).toBe('validation_failed');
    expect((await s.fails('settings.set', { host: 'bad host!' })).code).toBe('validation_failed');
    expect((await s.fails('settings.set', { holdMinutes: 0, port: 9000 })).code).toBe('validation_failed');
    expect((await s.fails('settings.set', { theme: 'dark' })).code).toBe('validation_failed');
    expect(await s.call('settings.get', {})).toMatchObject({ port: 8787, holdMinutes: 15 });
    expect(s.audit()).toEqual([]);
  });
});

describe('secrets and the vault passphrase', () => {
  it('rotates a secret into its 0600 file, returns it once and audits the rotation without the value', async () => {
    const s = await setup();
    const rotated = await s.call('settings.rotateSecret', { which: 'adminToken' });
    expect(rotated.file).toBe(join(s.dir, 'admin-token'));
    expect(readFileSync(rotated.file, 'utf8').trim()).toBe(rotated.value);
    expect(rotated.value.length).toBeGreaterThanOrEqual(43);
    if (process.platform !== 'win32') expect(statSync(rotated.file).mode & 0o777).toBe(0o600);
    const again = await s.call('settings.rotateSecret', { which: 'adminToken' });
    expect(again.value).not.toBe(rotated.value);
    expect((await s.call('settings.get', {})).secrets.adminTokenRotatedAt).not.toBeNull();
    expect(JSON.stringify(s.audit())).not.toContain(again.value);
    expect(s.audit().map((r) => r.action)).toEqual(['settings.rotate_secret', 'settings.rotate_secret']);
  });

  it('sets a passphrase that unlocks the vault, and changes it only with the current one', async () => {
    const s = await setup();
    expect((await s.fails('settings.setPassphrase', { passphrase: 'short' })).code).toBe('validation_failed');
    expect(await s.call('settings.setPassphrase', { passphrase: 'correct horse battery' })).toEqual({ changed: false });
    expect((await s.call('settings.get', {})).vault).toEqual({ passphrase: true, secretStore: true });
    expect((await s.fails('settings.setPassphrase', { passphrase: 'another passphrase' })).code).toBe('validation_failed');
    expect((await s.fails('settings.setPassphrase', { current: 'wrong one!', passphrase: 'another passphrase' })).code).toBe(
      'validation_failed',
    );
    expect(
      await s.call('settings.setPassphrase', { current: 'correct horse battery', passphrase: 'another passphrase' }),
    ).toEqual({ changed: true });
    expect(s.audit().map((r) => r.action)).toEqual(['vault.set_passphrase', 'vault.change_passphrase']);

    await s.engine.close();
    const byPassphrase = Engine.open({
      dataDir: s.dir,
      passphrase: 'another passphrase',
      secretStore: { description: 'none', loadOrCreate: () => Buffer.alloc(32) },
    });
    try {
      expect(byPassphrase.vault.dataKey.equals(s.engine.vault.dataKey)).toBe(true);
    } finally {
      await byPassphrase.close();
    }
    expect(() =>
      Engine.open({
        dataDir: s.dir,
        passphrase: 'correct horse battery',
        secretStore: { description: 'none', loadOrCreate: () => Buffer.alloc(32) },
      }),
    ).toThrow(/locked/);
    await s.restart();
  });
});

describe('backup and restore', () => {
  it('backs up online, refuses to overwrite, and stages a checked restore that the next start puts in place', async () => {
    const s = await setup(3);
    const out = tempDir();
    cleanups.push(out.cleanup);
    const file = join(out.dir, 'shop-backup.db');
    const backup = await s.call('settings.backup', { path: file });
    expect(backup).toMatchObject({ file, keys: 3, orders: 0, ledgerOk: true, ledgerEntries: 1 });
    expect((await s.fails('settings.backup', { path: file })).code).toBe('validation_failed');
    expect((await s.fails('settings.backup', { path: 'relative.db' })).code).toBe('validation_failed');

    // After the backup: a sale that the restore will undo.
    const { result } = await s.engine.reserve({ productId: s.productId, quantity: 1, email: 'a@example.com' });
    expect(result.ok).toBe(true);

    const staged = await s.call('settings.restore', { path: file });
    expect(staged).toMatchObject({ keys: 3, orders: 0, ledgerOk: true });
    expect((await s.call('settings.get', {})).pendingRestore).toMatchObject({ source: file });
    // The running engine is untouched until the next start.
    expect(s.engine.getProduct(s.productId)?.stock.reserved).toBe(1);

    const engine = await s.restart();
    expect(engine.getProduct(s.productId)?.stock).toEqual({ available: 3, reserved: 0, sold: 0 });
    expect(engine.verifyLedger().ok).toBe(true);
    expect((await s.call('settings.get', {})).pendingRestore).toBeNull();
    expect(existsSync(join(s.dir, 'restore-pending.db'))).toBe(false);
  });

  it('refuses a file that is not a database, or whose ledger is broken, and stages nothing', async () => {
    const s = await setup(2);
    const out = tempDir();
    cleanups.push(out.cleanup);
    const junk = join(out.dir, 'junk.db');
    writeFileSync(junk, 'this is not sqlite at all, just text '.repeat(200));
    expect((await s.fails('settings.restore', { path: junk })).code).toBe('validation_failed');
    expect((await s.fails('settings.restore', { path: join(out.dir, 'missing.db') })).code).toBe('validation_failed');

    const file = join(out.dir, 'tampered.db');
    await s.call('settings.backup', { path: file });
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(file);
    raw.prepare(`UPDATE ledger SET detail = '{}' WHERE seq = 1`).run();
    raw.close();
    const error = await s.fails('settings.restore', { path: file });
    expect(error).toMatchObject({ code: 'validation_failed' });
    expect(error.message).toMatch(/ledger/);
    expect((await s.call('settings.get', {})).pendingRestore).toBeNull();

    await s.call('settings.backup', { path: join(out.dir, 'good.db') });
    await s.call('settings.restore', { path: join(out.dir, 'good.db') });
    expect(await s.call('settings.cancelRestore', {})).toEqual({ cancelled: true });
    expect((await s.call('settings.get', {})).pendingRestore).toBeNull();
  });

  it('refuses a backup of another shop whose codes this vault cannot open', async () => {
    const s = await setup(1);
    const other = await openShop({ keys: 1 });
    cleanups.push(other.cleanup);
    const out = tempDir();
    cleanups.push(out.cleanup);
    const file = join(out.dir, 'other.db');
    await other.engine.db.backup(file);
    const error = await s.fails('settings.restore', { path: file });
    expect(error.message).toMatch(/another vault key/);
  });
});
