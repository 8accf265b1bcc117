/**
 * The desktop app's main process: one shop (engine + HTTP endpoint) and one window onto it.
 *
 * Security: the window runs sandboxed with context isolation and no Node; its page has a strict CSP
 * (src-renderer/index.html); navigation, new windows, webviews and permission requests are refused;
 * every IPC message is checked against our renderer's URL (ipc.ts). Data lives under the user's
 * app-data folder (or `--data`), the vault's key in the OS keychain (or behind a passphrase where
 * Linux has no keychain). A second launch focuses the first window. Quitting closes the endpoint
 * (in-flight requests finish) and then the database.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { app, BrowserWindow, dialog, ipcMain, nativeTheme, session } from 'electron';
import { startShop, type RunningShop } from '../app/start-shop';
import { isEngineError } from '../lib/errors';
import { KEY_FILE } from '../engine/engine';
import { registerIpc, trustedPage } from './ipc';
import { askPassphrase } from './passphrase-prompt';
import { SafeStorageStore, usableBackend } from './safe-storage-store';

const here = fileURLToPath(new URL('.', import.meta.url));
const RENDERER_INDEX = join(here, '../renderer/index.html');
const PRELOAD = join(here, '../preload/preload.cjs');
const PROMPT_PRELOAD = join(here, '../preload/prompt-preload.cjs');
const isTrusted = trustedPage(pathToFileURL(RENDERER_INDEX).href);

const { values: args } = parseArgs({
  args: process.argv.slice(app.isPackaged ? 1 : 2),
  options: { data: { type: 'string' }, port: { type: 'string' }, 'admin-token': { type: 'string' } },
  strict: false,
  allowPositionals: true,
});
const stringArg = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

app.setName('OnceKey');
app.setPath('userData', join(app.getPath('appData'), 'OnceKey'));
app.enableSandbox();

/** better-sqlite3 built for Electron's ABI (bin/start.js prepares it); db/open.ts reads this variable. */
function useElectronSqliteBuild(): void {
  if (process.env.ONCEKEY_SQLITE_BINDING) return;
  const candidate = join(
    app.getAppPath(),
    '.electron-native',
    `${process.versions.electron}-${process.platform}-${process.arch}`,
    'better_sqlite3.node',
  );
  if (existsSync(candidate)) process.env.ONCEKEY_SQLITE_BINDING = candidate;
}

let shop: RunningShop | null = null;
let window: BrowserWindow | null = null;
let stopIpc: (() => void) | null = null;

/** Opens the shop: keychain-backed vault, a key file for a shop made headless, or a passphrase. */
async function openShop(dataDir: string): Promise<RunningShop | null> {
  // Without --port: the port saved on the Settings page (else 8787), a free one when that is taken.
  const given = stringArg(args.port);
  const port = given === undefined ? undefined : Number(given);
  const base = {
    dataDir,
    port: port !== undefined && Number.isInteger(port) && port >= 0 && port < 65536 ? port : undefined,
    portFallback: port === undefined,
    adminToken: stringArg(args['admin-token']) ?? process.env.ONCEKEY_ADMIN_TOKEN,
    rateLimitPerMinute: 60,
    notice: (line: string) => console.error(line),
  };
  // A shop first opened by `oncekey serve` keeps its key file: the keychain holds a different secret.
  if (existsSync(join(dataDir, KEY_FILE))) return startShop(base);
  if (usableBackend()) return startShop({ ...base, secretStore: await SafeStorageStore.open(dataDir) });
  const isNew = !existsSync(join(dataDir, 'shop.db'));
  let error: string | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const passphrase =
      process.env.ONCEKEY_PASSPHRASE || (await askPassphrase({ preload: PROMPT_PRELOAD, locale: app.getLocale(), isNew, error }));
    if (passphrase === null) return null;
    try {
      return await startShop({ ...base, passphrase });
    } catch (caught) {
      if (!isEngineError(caught) || (caught.code !== 'vault_locked' && caught.code !== 'validation_failed')) throw caught;
      error = caught.message;
      if (process.env.ONCEKEY_PASSPHRASE) throw caught;
    }
  }
  return null;
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    title: 'OnceKey',
    show: false,
    backgroundColor: nativeTheme.shouldUseDarkColors ? '#0f1216' : '#f5f6f8',
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  void win.loadFile(RENDERER_INDEX);
  return win;
}

// Lock every web contents down: no new windows, no navigation away from our page, no webviews.
app.on('web-contents-created', (_event, contents) => {
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.on('will-navigate', (event, url) => {
    if (!isTrusted(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
});

async function start(): Promise<void> {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  useElectronSqliteBuild();
  const dataDir = stringArg(args.data) ?? app.getPath('userData');
  try {
    shop = await openShop(dataDir);
  } catch (error) {
    dialog.showErrorBox('OnceKey', `The shop in ${dataDir} could not be opened:\n${(error as Error).message}`);
    app.exit(1);
    return;
  }
  if (shop === null) {
    app.exit(0);
    return;
  }
  console.log(`listening on ${shop.url}`);
  stopIpc = registerIpc(ipcMain, {
    engine: shop.engine,
    isTrusted,
    onUnexpected: (method, error) => console.error(`admin method ${method} failed unexpectedly:`, error),
    onRefused: (channel, url) => console.error(`refused IPC ${channel} from ${url}`),
  });
  window = createWindow();
  window.on('closed', () => (window = null));
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!window) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('window-all-closed', () => app.quit());
  let closed = false;
  app.on('before-quit', (event) => {
    if (closed || shop === null) return;
    event.preventDefault();
    stopIpc?.();
    void shop
      .close()
      .catch((error: unknown) => console.error('closing the shop failed:', error))
      .finally(() => {
        closed = true;
        app.quit();
      });
  });
  void app.whenReady().then(start);
}
