/**
 * The Settings RPC methods through the real dispatcher, on both backends (the SQLite file and a real
 * PostgreSQL): stored settings (the hold and the public address applied at once on this server, read by
 * another server when it starts), secrets written to this host's shop folder, the vault passphrase. The
 * database is read through the shop's own tables (s.rows) with the same SQL on both.
 *
 * SQLite-only: backup and restore copy the SQLite file; PostgreSQL refuses them, naming pg_dump.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Engine } from '../src-main/engine/engine';
import { readSettingsSql, resolveStartSettings } from '../src-main/engine/settings';
import { PgShop } from '../src-main/pg/shop';
import { type RpcContext, sqliteContext } from '../src-main/rpc/dispatcher';
import { KeyFileStore } from '../src-main/vault/secret-store';
import { rpcClient } from './helpers/rpc';
import { BACKEND_NAMES, startBackendShop, stopBackendServers, type BackendName } from './helpers/backend-shop';
import { openShop, tempDir } from './helpers/shop';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => stopBackendServers(), 60_000);

const caller = (context: () => RpcContext) => rpcClient(context);

/** What another server opening the same shop now sees (one started after a change). */
interface OtherServer {
  readonly holdSeconds: number;
  readonly publicBase: string;
  readonly dataKey: Buffer;
}

/** A shop on `backend` served on 127.0.0.1, called as `desktop:test`. */
async function setup(backend: BackendName) {
  const s = await startBackendShop(backend, { keys: 2 });
  cleanups.push(() => s.close());
  const { call, fails } = caller(() => s.rpcContext('desktop:test'));
  /** The audit rows the Settings page writes. */
  const audit = () =>
    s.rows<{ actor: string; action: string; subject: string; detail: string }>(
      `SELECT actor, action, subject, detail FROM audit WHERE action LIKE 'settings.%' OR action LIKE 'vault.%' ORDER BY id`,
    );
  /** Another server on the same shop, opened now (by the vault key file, or by `passphrase` alone); closed after the test. */
  const another = async (passphrase?: string): Promise<OtherServer> => {
    const unlock = passphrase
      ? { passphrase, secretStore: { description: 'none', loadOrCreate: () => Buffer.alloc(32) } }
      : { secretStore: new KeyFileStore(join(s.dataDir, 'vault.key')) };
    if (s.engine) {
      const engine = Engine.open({ dataDir: s.dataDir, ...unlock });
      cleanups.push(() => engine.close());
      return { holdSeconds: engine.holdSeconds, publicBase: engine.payments.publicBase(), dataKey: engine.vault.dataKey };
    }
    const url = (s.shop as PgShop).pool.options.connectionString!;
    const shop = await PgShop.open({ url, ...unlock });
    cleanups.push(() => shop.close());
    return { holdSeconds: shop.holdSeconds, publicBase: shop.payments.publicBase(), dataKey: shop.vault.dataKey };
  };
  return { s, call, fails, audit, another };
}

describe.each(BACKEND_NAMES)('settings.get and settings.set (%s)', (backend) => {
  it('starts from the defaults, stores changes in meta, applies the hold at once and says what waits for a restart', async () => {
    const { s, call, audit, another } = await setup(backend);
    const initial = await call('settings.get', {});
    expect(initial).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      holdMinutes: 15,
      purchaseLimit: 0,
      publicUrl: '',
      exposed: false,
      pendingRestore: null,
      secrets: { adminTokenRotatedAt: null, webhookSecretRotatedAt: null },
    });
    expect(initial.vault).toEqual({ passphrase: false, secretStore: true });
    expect(initial.dataDir).toBe(s.dataDir);
    if (backend === 'sqlite') {
      expect(initial.backend).toEqual({ kind: 'sqlite', location: join(s.dataDir, 'shop.db') });
      expect(existsSync(initial.backend.location)).toBe(true);
    } else {
      // The database's URL, never its password.
      const url = new URL((s.shop as PgShop).pool.options.connectionString!);
      expect(url.password).not.toBe('');
      expect(initial.backend).toEqual({ kind: 'postgres', location: s.shop.location });
      expect(initial.backend.location).toMatch(/^postgres(ql)?:\/\//);
      expect(initial.backend.location).not.toContain(url.password);
    }

    const set = await call('settings.set', { holdMinutes: 30, port: 9090, host: '0.0.0.0', purchaseLimit: 3 });
    expect(set.restartNeeded.sort()).toEqual(['host', 'port', 'purchaseLimit']);
    expect(set.settings).toMatchObject({ host: '0.0.0.0', port: 9090, holdMinutes: 30, purchaseLimit: 3, exposed: true });
    // This server's next order holds its codes for the new time.
    const { result } = await s.shop.reserve({ productId: s.productId, quantity: 1, email: 'a@example.com' });
    if (!result.ok) throw new Error('reserve failed');
    expect(Date.parse(result.value.expiresAt) - Date.parse(result.value.createdAt)).toBe(1800 * 1000);

    expect(await audit()).toEqual([
      expect.objectContaining({ actor: 'desktop:test', action: 'settings.set', subject: 'settings' }),
    ]);
    expect(JSON.parse((await audit())[0]!.detail)).toEqual({
      holdMinutes: { from: 15, to: 30 },
      port: { from: 8787, to: 9090 },
      host: { from: '127.0.0.1', to: '0.0.0.0' },
      purchaseLimit: { from: 0, to: 3 },
    });
    // Unchanged values are not a change.
    expect((await call('settings.set', { holdMinutes: 30 })).restartNeeded).toEqual([]);
    expect(await audit()).toHaveLength(1);

    // Another server (or this one's next start) reads them from the database.
    expect((await another()).holdSeconds).toBe(1800);
    expect(await call('settings.get', {})).toMatchObject({ host: '0.0.0.0', port: 9090, holdMinutes: 30, purchaseLimit: 3 });
    // The next start uses them unless the command line says otherwise (app/start-shop.ts serveShop).
    const saved = await readSettingsSql(s.shop.sql);
    expect(resolveStartSettings(saved, {})).toEqual({ host: '0.0.0.0', port: 9090, maxOrdersPerEmail: 3 });
    expect(resolveStartSettings(saved, { host: '127.0.0.1', port: 0 })).toEqual({
      host: '127.0.0.1',
      port: 0,
      maxOrdersPerEmail: 3,
    });
  });

  it('gives a new public address to this server’s payment channels at once, and to another server at its start', async () => {
    const { s, call, audit, another } = await setup(backend);
    expect(s.shop.payments.publicBase()).toBe(s.url);
    const set = await call('settings.set', { publicUrl: 'https://shop.example.com/' });
    expect(set).toMatchObject({ restartNeeded: [], settings: { publicUrl: 'https://shop.example.com' } });
    expect(s.shop.payments.publicBase()).toBe('https://shop.example.com');
    expect(s.shop.payments.notifyUrl('alipay')).toBe('https://shop.example.com/api/v1/payments/alipay/notify');
    expect((await another()).publicBase).toBe('https://shop.example.com');
    expect(JSON.parse((await audit())[0]!.detail)).toEqual({ publicUrl: { from: '', to: 'https://shop.example.com' } });

    // Cleared: the address the endpoint listens on again.
    await call('settings.set', { publicUrl: '' });
    expect(s.shop.payments.publicBase()).toBe(s.url);
  });

  it('refuses bad values and stores none of them', async () => {
    const { call, fails, audit } = await setup(backend);
    expect((await fails('settings.set', { port: 70000 })).code).toBe('validation_failed');
    expect((await fails('settings.set', { host: 'bad host!' })).code).toBe('validation_failed');
    expect((await fails('settings.set', { holdMinutes: 0, port: 9000 })).code).toBe('validation_failed');
    expect((await fails('settings.set', { publicUrl: 'ftp://shop.example.com' })).code).toBe('validation_failed');
    expect((await fails('settings.set', { theme: 'dark' })).code).toBe('validation_failed');
    expect(await call('settings.get', {})).toMatchObject({ port: 8787, holdMinutes: 15, publicUrl: '' });
    expect(await audit()).toEqual([]);
  });
});

describe.each(BACKEND_NAMES)('secrets and the vault passphrase (%s)', (backend) => {
  it('rotates a secret into its 0600 file in this host’s folder, returns it once and audits the rotation without the value', async () => {
    const { s, call, audit } = await setup(backend);
    const rotated = await call('settings.rotateSecret', { which: 'adminToken' });
    expect(rotated.file).toBe(join(s.dataDir, 'admin-token'));
    expect(rotated.restartNeeded).toBe(true);
    expect(readFileSync(rotated.file, 'utf8').trim()).toBe(rotated.value);
    expect(rotated.value.length).toBeGreaterThanOrEqual(43);
    if (process.platform !== 'win32') expect(statSync(rotated.file).mode & 0o777).toBe(0o600);
    const again = await call('settings.rotateSecret', { which: 'adminToken' });
    expect(again.value).not.toBe(rotated.value);
    const { secrets } = await call('settings.get', {});
    expect(secrets.adminTokenRotatedAt).not.toBeNull();
    expect(secrets.webhookSecretRotatedAt).toBeNull();
    expect(JSON.stringify(await audit())).not.toContain(again.value);
    expect((await audit()).map((r) => [r.action, r.subject])).toEqual([
      ['settings.rotate_secret', 'adminToken'],
      ['settings.rotate_secret', 'adminToken'],
    ]);
  });

  it('sets a passphrase that unlocks the vault, and changes it only with the current one', async () => {
    const { s, call, fails, audit, another } = await setup(backend);
    expect((await fails('settings.setPassphrase', { passphrase: 'short' })).code).toBe('validation_failed');
    expect(await call('settings.setPassphrase', { passphrase: 'correct horse battery' })).toEqual({ changed: false });
    expect((await call('settings.get', {})).vault).toEqual({ passphrase: true, secretStore: true });
    expect((await fails('settings.setPassphrase', { passphrase: 'another passphrase' })).code).toBe('validation_failed');
    expect((await fails('settings.setPassphrase', { current: 'wrong one!', passphrase: 'another passphrase' })).code).toBe(
      'validation_failed',
    );
    expect(await call('settings.setPassphrase', { current: 'correct horse battery', passphrase: 'another passphrase' })).toEqual({
      changed: true,
    });
    expect((await audit()).map((r) => r.action)).toEqual(['vault.set_passphrase', 'vault.change_passphrase']);

    // A server with no key file opens the same vault with the new passphrase, and not with the old one.
    const mine = s.engine ? s.engine.vault.dataKey : (s.shop as PgShop).vault.dataKey;
    expect((await another('another passphrase')).dataKey.equals(mine)).toBe(true);
    await expect(another('correct horse battery')).rejects.toThrow(/locked|passphrase/);
  });
});

/** A SQLite shop in a folder of its own (no endpoint), which a test can close and open again as the next start does. */
async function sqliteShop(keys = 2) {
  const shop = await openShop({ keys });
  let engine = shop.engine;
  cleanups.push(shop.cleanup);
  const restart = async () => {
    await engine.close();
    engine = Engine.open({ dataDir: shop.dir });
    cleanups.push(() => engine.close());
    return engine;
  };
  return {
    ...shop,
    ...caller(() => sqliteContext(engine, 'desktop:test')),
    restart,
    get engine() {
      return engine;
    },
  };
}

describe('backup and restore (sqlite)', () => {
  it('backs up online, refuses to overwrite, and stages a checked restore that the next start puts in place', async () => {
    const s = await sqliteShop(3);
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
    const s = await sqliteShop(2);
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
    const s = await sqliteShop(1);
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

describe('backup and restore (postgres)', () => {
  it('refuses them, saying a PostgreSQL shop is backed up with pg_dump, and writes no file', async () => {
    const { s, call, fails } = await setup('postgres');
    const out = tempDir();
    cleanups.push(out.cleanup);
    const file = join(out.dir, 'shop-backup.db');
    for (const [method, input] of [
      ['settings.backup', { path: file }],
      ['settings.restore', { path: file }],
      ['settings.cancelRestore', {}],
    ] as const) {
      const error = await fails(method, input);
      expect(error.code).toBe('not_found');
      expect(error.message).toMatch(/PostgreSQL: back it up with pg_dump/);
    }
    expect(existsSync(file)).toBe(false);
    expect(existsSync(join(s.dataDir, 'restore-pending.db'))).toBe(false);
    expect((await call('settings.get', {})).pendingRestore).toBeNull();
  });
});
