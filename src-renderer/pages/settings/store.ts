/**
 * The Settings page's state: the shop's settings as the main process holds them, and the actions that
 * change them. Language and theme are not here: they are the viewer's, in shell/preferences.ts.
 */
import { create } from 'zustand';
import type { Output } from '../../../shared/rpc';
import type { SettingsView, ShopSettings } from '../../../shared/rpc/settings';
import type { Transport } from '../../transport/types';

export interface SettingsState {
  readonly settings: SettingsView | null;
  readonly status: 'idle' | 'loading' | 'ready' | 'error';
  readonly error: unknown;
  load: (transport: Transport) => Promise<void>;
  save: (transport: Transport, patch: Partial<ShopSettings>) => Promise<Output<'settings.set'>>;
  rotate: (transport: Transport, which: 'adminToken' | 'webhookSecret') => Promise<Output<'settings.rotateSecret'>>;
  setPassphrase: (transport: Transport, passphrase: string, current?: string) => Promise<void>;
  backup: (transport: Transport, path: string, overwrite: boolean) => Promise<Output<'settings.backup'>>;
  restore: (transport: Transport, path: string) => Promise<Output<'settings.restore'>>;
  cancelRestore: (transport: Transport) => Promise<void>;
  reset: () => void;
}

const INITIAL = { settings: null, status: 'idle' as const, error: null };

export const useSettings = create<SettingsState>()((set, get) => ({
  ...INITIAL,
  async load(transport) {
    set((state) => ({ status: state.settings ? state.status : 'loading' }));
    try {
      set({ settings: await transport.call('settings.get', {}), status: 'ready', error: null });
    } catch (error) {
      set({ status: 'error', error });
    }
  },
  async save(transport, patch) {
    const result = await transport.call('settings.set', patch);
    set({ settings: result.settings });
    return result;
  },
  async rotate(transport, which) {
    const result = await transport.call('settings.rotateSecret', { which });
    await get().load(transport);
    return result;
  },
  async setPassphrase(transport, passphrase, current) {
    await transport.call('settings.setPassphrase', { passphrase, ...(current !== undefined ? { current } : {}) });
    await get().load(transport);
  },
  async backup(transport, path, overwrite) {
    return transport.call('settings.backup', { path, overwrite });
  },
  async restore(transport, path) {
    const result = await transport.call('settings.restore', { path });
    await get().load(transport);
    return result;
  },
  async cancelRestore(transport) {
    await transport.call('settings.cancelRestore', {});
    await get().load(transport);
  },
  reset() {
    set(INITIAL);
  },
}));
