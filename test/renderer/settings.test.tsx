/**
 * The Settings page against a fake transport: grouped form, the warning before listening beyond this PC,
 * secrets shown once, passphrase, restore, and the database the shop runs on (a PostgreSQL shop: pg_dump
 * backs it up, each server keeps its own secrets), in English and Chinese.
 */
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SettingsView, ShopSettings } from '../../shared/rpc/settings';
import { i18n } from '../../src-renderer/i18n';
import { SettingsPage } from '../../src-renderer/pages/settings/SettingsPage';
import { useSettings } from '../../src-renderer/pages/settings/store';
import { settingsStrings } from '../../src-renderer/pages/settings/strings';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeHandlers, type FakeTransport } from '../../src-renderer/transport/fake';
import { TransportError } from '../../src-renderer/transport/types';

beforeAll(() => {
  for (const lang of ['en', 'zh-CN'] as const) i18n.addResourceBundle(lang, 'settings', settingsStrings[lang], true, true);
});
beforeEach(async () => {
  useSettings.getState().reset();
  await i18n.changeLanguage('en');
});
afterEach(cleanup);

function view(over: Partial<SettingsView> = {}): SettingsView {
  return {
    host: '127.0.0.1',
    port: 8787,
    holdMinutes: 15,
    purchaseLimit: 0,
    publicUrl: '',
    exposed: false,
    vault: { passphrase: false, secretStore: true },
    secrets: { adminTokenRotatedAt: null, webhookSecretRotatedAt: null },
    pendingRestore: null,
    dataDir: '/home/shop/.local/share/oncekey',
    backend: { kind: 'sqlite', location: '/home/shop/.local/share/oncekey/shop.db' },
    ...over,
  };
}

/** A shop whose rows live in PostgreSQL: its folder on this server keeps the vault key and secrets only. */
const postgresView = (): SettingsView =>
  view({ dataDir: '/srv/oncekey', backend: { kind: 'postgres', location: 'postgres://oncekey:***@db:5432/shop' } });

function setup(
  handlers: FakeHandlers = {},
  initial: SettingsView = view(),
): { transport: FakeTransport; state: { settings: SettingsView } } {
  const state = { settings: initial };
  const transport = createFakeTransport({
    'settings.get': () => state.settings,
    'settings.set': (input) => {
      const changed = (Object.keys(input) as (keyof ShopSettings)[]).filter(
        (k) => input[k] !== undefined && input[k] !== state.settings[k],
      );
      state.settings = { ...state.settings, ...input, publicUrl: input.publicUrl ?? state.settings.publicUrl };
      state.settings.exposed = !['127.0.0.1', 'localhost', '::1'].includes(state.settings.host);
      return {
        settings: state.settings,
        restartNeeded: changed.filter((k): k is 'host' | 'port' | 'purchaseLimit' => k !== 'holdMinutes' && k !== 'publicUrl'),
      };
    },
    ...handlers,
  });
  render(
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>
        <SettingsPage />
      </TransportContext.Provider>
    </I18nextProvider>,
  );
  return { transport, state };
}

const setCalls = (t: FakeTransport) => t.calls.filter((c) => c.method === 'settings.set').map((c) => c.input);

describe('settings page', () => {
  it('saves the hold and the limit, and refuses a bad port without calling the engine', async () => {
    const { transport } = setup();
    const hold = await screen.findByRole('textbox', { name: 'Hold unpaid orders for (minutes)' });
    await userEvent.clear(hold);
    await userEvent.type(hold, '30');
    const port = screen.getByRole('textbox', { name: 'Port' });
    await userEvent.clear(port);
    await userEvent.type(port, '99999');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('A port is a whole number from 1 to 65535.')).toBeTruthy();
    expect(setCalls(transport)).toEqual([]);
    await userEvent.clear(port);
    await userEvent.type(port, '8787');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(setCalls(transport)).toEqual([{ holdMinutes: 30 }]));
  });

  it('warns before listening beyond this PC and saves only when confirmed', async () => {
    const { transport } = setup();
    const host = await screen.findByRole('textbox', { name: 'Listen on (host)' });
    await userEvent.clear(host);
    await userEvent.type(host, '0.0.0.0');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    const dialog = await screen.findByRole('dialog', { name: 'Listen beyond this PC?' });
    expect(within(dialog).getByText(/other machines on your network/)).toBeTruthy();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(setCalls(transport)).toEqual([]);

    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await userEvent.click(within(await screen.findByRole('dialog')).getByRole('button', { name: 'Yes, listen on 0.0.0.0' }));
    await waitFor(() => expect(setCalls(transport)).toEqual([{ host: '0.0.0.0' }]));
    expect(
      await screen.findByText('The endpoint is set to listen beyond this PC: other machines on the network can reach the shop.'),
    ).toBeTruthy();
  });

  it('rotates a secret after confirmation and shows the new value once', async () => {
    const { transport } = setup({
      'settings.rotateSecret': (input) => ({
        which: input.which,
        value: 'NEW-SECRET-VALUE-123',
        file: '/data/webhook-secret',
        restartNeeded: true,
      }),
    });
    const secrets = (await screen.findByRole('heading', { name: 'Tokens and secrets' })).closest('section')!;
    await userEvent.click(within(secrets).getAllByRole('button', { name: 'Rotate…' })[1]!);
    await userEvent.click(
      within(await screen.findByRole('dialog', { name: 'Rotate the Webhook secret?' })).getByRole('button', { name: 'Rotate' }),
    );
    const shown = await screen.findByRole('dialog', { name: 'New Webhook secret' });
    expect(within(shown).getByText('NEW-SECRET-VALUE-123')).toBeTruthy();
    expect(transport.calls.find((c) => c.method === 'settings.rotateSecret')?.input).toEqual({ which: 'webhookSecret' });
    await userEvent.click(within(shown).getByRole('button', { name: 'Done' }));
    expect(screen.queryByText('NEW-SECRET-VALUE-123')).toBeNull();
  });

  it('checks the new passphrase twice before setting it', async () => {
    const { transport } = setup({ 'settings.setPassphrase': () => ({ changed: false }) });
    const next = await screen.findByLabelText('New passphrase');
    await userEvent.type(next, 'correct horse');
    await userEvent.type(screen.getByLabelText('Repeat the new passphrase'), 'correct hose');
    await userEvent.click(screen.getByRole('button', { name: 'Set passphrase' }));
    expect(await screen.findByText('The two passphrases differ.')).toBeTruthy();
    expect(transport.calls.some((c) => c.method === 'settings.setPassphrase')).toBe(false);
    await userEvent.clear(screen.getByLabelText('Repeat the new passphrase'));
    await userEvent.type(screen.getByLabelText('Repeat the new passphrase'), 'correct horse');
    await userEvent.click(screen.getByRole('button', { name: 'Set passphrase' }));
    await waitFor(() =>
      expect(transport.calls.find((c) => c.method === 'settings.setPassphrase')?.input).toEqual({ passphrase: 'correct horse' }),
    );
  });

  it('stages a restore after confirmation and shows a refused file’s reason in the dialog', async () => {
    let refuse = true;
    const { state } = setup({
      'settings.restore': (input) => {
        if (refuse) throw new TransportError('validation_failed', 'the ledger does not verify');
        state.settings = { ...state.settings, pendingRestore: { stagedAt: '2026-03-10T12:00:00.000Z', source: input.path } };
        return {
          file: input.path,
          schemaVersion: 2,
          keys: 10,
          orders: 3,
          ledgerOk: true,
          ledgerEntries: 20,
          stagedAt: '2026-03-10T12:00:00.000Z',
        };
      },
    });
    await userEvent.type(await screen.findByRole('textbox', { name: 'Restore from (full path)' }), '/backups/shop.db');
    await userEvent.click(screen.getByRole('button', { name: 'Check and restore…' }));
    const dialog = await screen.findByRole('dialog', { name: 'Restore this backup?' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Check and stage' }));
    expect(await within(dialog).findByText('Some input is not valid: the ledger does not verify')).toBeTruthy();
    refuse = false;
    await userEvent.click(within(dialog).getByRole('button', { name: 'Check and stage' }));
    expect(await screen.findByText(/A restore from \/backups\/shop\.db .* waits for the next start\./)).toBeTruthy();
  });

  it('shows the database the shop runs on beside its data folder: the SQLite file in it', async () => {
    setup();
    expect(await screen.findByText('SQLite — /home/shop/.local/share/oncekey/shop.db')).toBeTruthy();
    expect(screen.getByText('Database')).toBeTruthy();
    expect(screen.getByText('/home/shop/.local/share/oncekey')).toBeTruthy();
    expect(screen.getByText('Where this shop’s database and secrets are kept.')).toBeTruthy();
    expect(screen.queryByText(/Each server of this shop/)).toBeNull();
    expect(screen.getByRole('button', { name: 'Back up now' })).toBeTruthy();
  });

  it('names a PostgreSQL server by the address it is given, which holds no password', async () => {
    setup({}, postgresView());
    expect(await screen.findByText('PostgreSQL — postgres://oncekey:***@db:5432/shop')).toBeTruthy();
    expect(screen.getByText('Database')).toBeTruthy();
    expect(screen.queryByText(/SQLite/)).toBeNull();
    // The folder keeps this server's vault key and secrets, not the shop's data.
    expect(
      screen.getByText('Where this server keeps its vault key and secrets. The shop’s data is in the database below.'),
    ).toBeTruthy();
    expect(screen.getByText('/srv/oncekey')).toBeTruthy();
  });

  it('on a PostgreSQL shop: says pg_dump backs it up instead of offering a backup or a restore, and works as on SQLite otherwise', async () => {
    const { transport } = setup({ 'settings.setPassphrase': () => ({ changed: false }) }, postgresView());
    const backup = (await screen.findByRole('heading', { name: 'Backup and restore' })).closest('section')!;
    expect(within(backup).getByRole('note').textContent).toBe(
      'This shop’s data is in PostgreSQL: back it up with pg_dump (restore with pg_restore or psql), as any PostgreSQL database. The codes in a dump stay encrypted: keep the vault key file or the passphrase apart from it.',
    );
    expect(within(backup).queryByRole('button')).toBeNull();
    expect(within(backup).queryByRole('textbox')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Back up now' })).toBeNull();
    expect(screen.queryByRole('textbox', { name: 'Restore from (full path)' })).toBeNull();
    // Each server keeps its own secrets.
    const secrets = screen.getByRole('heading', { name: 'Tokens and secrets' }).closest('section')!;
    expect(
      within(secrets).getByText(
        'Each server of this shop keeps its own admin token and webhook secret in its data folder: rotating here replaces this server’s.',
      ),
    ).toBeTruthy();

    const hold = screen.getByRole('textbox', { name: 'Hold unpaid orders for (minutes)' });
    await userEvent.clear(hold);
    await userEvent.type(hold, '45');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(setCalls(transport)).toEqual([{ holdMinutes: 45 }]));
    await userEvent.type(screen.getByLabelText('New passphrase'), 'correct horse');
    await userEvent.type(screen.getByLabelText('Repeat the new passphrase'), 'correct horse');
    await userEvent.click(screen.getByRole('button', { name: 'Set passphrase' }));
    await waitFor(() =>
      expect(transport.calls.find((c) => c.method === 'settings.setPassphrase')?.input).toEqual({ passphrase: 'correct horse' }),
    );
    expect(transport.calls.filter((c) => /^settings\.(backup|restore|cancelRestore)$/.test(c.method))).toEqual([]);
  });

  it('is translated into Chinese, and has the same keys in both languages', async () => {
    await i18n.changeLanguage('zh-CN');
    setup();
    expect(await screen.findByRole('heading', { name: '店铺接口' })).toBeTruthy();
    expect(screen.getByRole('heading', { name: '备份与恢复' })).toBeTruthy();
    expect(screen.getByRole('button', { name: '立即备份' })).toBeTruthy();
    expect(screen.getByText('数据库')).toBeTruthy();
    expect(screen.getByText('SQLite — /home/shop/.local/share/oncekey/shop.db')).toBeTruthy();
    const keys = (value: unknown, prefix = ''): string[] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([k, v]) => keys(v, `${prefix}${k}.`))
        : [prefix];
    expect(keys(settingsStrings['zh-CN']).sort()).toEqual(keys(settingsStrings.en).sort());
  });

  it('is translated into Chinese on a PostgreSQL shop too', async () => {
    await i18n.changeLanguage('zh-CN');
    setup({}, postgresView());
    const backup = (await screen.findByRole('heading', { name: '备份与恢复' })).closest('section')!;
    expect(within(backup).getByRole('note').textContent).toBe(
      '此店铺的数据保存在 PostgreSQL 中：请像备份其他 PostgreSQL 数据库一样用 pg_dump 备份（用 pg_restore 或 psql 恢复）。导出文件中的卡密仍保持加密：请将卡密库密钥文件或口令与它分开保存。',
    );
    expect(screen.queryByRole('button', { name: '立即备份' })).toBeNull();
    expect(
      screen.getByText('此店铺的每台服务器都在自己的数据文件夹中保存管理令牌和 Webhook 密钥：在此轮换只替换本服务器的。'),
    ).toBeTruthy();
    expect(screen.getByRole('heading', { name: '数据文件夹' })).toBeTruthy();
    expect(screen.getByText('此服务器保存卡密库密钥和各项密钥的位置。店铺数据保存在下方的数据库中。')).toBeTruthy();
    expect(screen.getByText('数据库')).toBeTruthy();
    expect(screen.getByText('PostgreSQL — postgres://oncekey:***@db:5432/shop')).toBeTruthy();
  });
});
