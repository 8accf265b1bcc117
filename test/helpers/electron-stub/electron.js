// A stand-in for Electron's main-process API, just enough to run the built main process under plain
// Node: it records what main.ts asks for and prints one JSON line per observation (prefixed
// `stub:`) for test/electron-main.test.ts to read. On SIGTERM it quits the way Electron does
// (before-quit, which main may postpone, then exit).
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const report = (what, data) => process.stdout.write(`stub:${JSON.stringify({ what, ...data })}\n`);
const paths = { appData: process.env.STUB_APP_DATA ?? mkdtempSync(join(tmpdir(), 'oncekey-stub-')) };

class App extends EventEmitter {
  isPackaged = false;
  quitting = false;
  setName(name) {
    this.name = name;
  }
  getPath(name) {
    if (!paths[name]) throw new Error(`stub has no path ${name}`);
    return paths[name];
  }
  setPath(name, value) {
    paths[name] = value;
    report('setPath', { name, value });
  }
  getAppPath() {
    return process.cwd();
  }
  getLocale() {
    return 'en-US';
  }
  enableSandbox() {
    report('enableSandbox', {});
  }
  requestSingleInstanceLock() {
    return true;
  }
  whenReady() {
    return Promise.resolve();
  }
  quit() {
    const event = {
      defaultPrevented: false,
      preventDefault() {
        this.defaultPrevented = true;
      },
    };
    this.emit('before-quit', event);
    if (!event.defaultPrevented) {
      report('exit', { code: 0 });
      process.exit(0);
    }
  }
  exit(code = 0) {
    report('exit', { code });
    process.exit(code);
  }
}
export const app = new App();
process.on('SIGTERM', () => app.quit());

class IpcMain extends EventEmitter {
  handlers = new Map();
  handle(channel, listener) {
    this.handlers.set(channel, listener);
  }
  removeHandler(channel) {
    this.handlers.delete(channel);
  }
}
export const ipcMain = new IpcMain();

class WebContents extends EventEmitter {
  static next = 1;
  id = WebContents.next++;
  sent = [];
  setWindowOpenHandler(handler) {
    this.windowOpenHandler = handler;
  }
  send(channel, payload) {
    report('send', { channel, payload });
  }
  isDestroyed() {
    return false;
  }
}

export class BrowserWindow extends EventEmitter {
  constructor(options) {
    super();
    this.options = options;
    this.webContents = new WebContents();
    app.emit('web-contents-created', {}, this.webContents);
    report('window', { webPreferences: options.webPreferences });
  }
  async loadFile(file) {
    report('loadFile', { file });
    // Play the page: what the preload's bridge would send from our renderer's top frame.
    const { pathToFileURL } = await import('node:url');
    const frame = { url: `${pathToFileURL(file).href}#/dashboard`, parent: null };
    const handler = ipcMain.handlers.get('oncekey:call');
    const event = { sender: this.webContents, senderFrame: frame };
    report('reply', {
      reply: await handler(event, 'products.create', { name: 'Stub product', price: { amount: 100, currency: 'CNY' } }),
    });
    report('reply', { reply: await handler(event, 'products.list', {}) });
    const stranger = { sender: this.webContents, senderFrame: { url: 'https://example.com/', parent: null } };
    report('reply', { reply: await handler(stranger, 'products.list', {}) });
    // Navigation away from the page is refused.
    const navigation = {
      defaultPrevented: false,
      preventDefault() {
        this.defaultPrevented = true;
      },
    };
    this.webContents.emit('will-navigate', navigation, 'https://example.com/');
    report('navigation', {
      blocked: navigation.defaultPrevented,
      windowOpen: this.webContents.windowOpenHandler?.({ url: 'https://example.com/' }),
    });
    report('ready', {});
  }
  once(event, listener) {
    if (event === 'ready-to-show') return this;
    return super.once(event, listener);
  }
  show() {
    report('show', {});
  }
  isMinimized() {
    return false;
  }
  restore() {
    report('restore', {});
  }
  focus() {
    report('focus', {});
  }
}

export const safeStorage = {
  isEncryptionAvailable: () => true,
  getSelectedStorageBackend: () => process.env.STUB_BACKEND ?? 'gnome_libsecret',
  encryptStringAsync: async (text) => Buffer.from(`sealed:${Buffer.from(text).toString('base64')}`),
  decryptStringAsync: async (buffer) => ({
    result: Buffer.from(buffer.toString().slice('sealed:'.length), 'base64').toString(),
    shouldReEncrypt: false,
  }),
};

export const session = {
  defaultSession: {
    setPermissionRequestHandler: (handler) =>
      report('permissions', {
        granted: (() => {
          let granted;
          handler({}, 'media', (ok) => (granted = ok));
          return granted;
        })(),
      }),
    setPermissionCheckHandler: () => undefined,
  },
};
export const nativeTheme = { shouldUseDarkColors: false };
export const dialog = { showErrorBox: (title, text) => report('errorBox', { title, text }) };
export const contextBridge = {};
export const ipcRenderer = {};
export default { app, ipcMain, BrowserWindow, safeStorage, session, nativeTheme, dialog };
