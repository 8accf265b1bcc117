/**
 * Asks for the vault passphrase in a small modal window, for Linux desktops where safeStorage only has
 * its `basic_text` fallback (no real keychain). Resolves with the passphrase, or null when cancelled.
 */
import { BrowserWindow, ipcMain, type IpcMainEvent } from 'electron';

export const PASSPHRASE_CHANNEL = 'oncekey:passphrase';

const TEXT = {
  en: {
    title: 'Unlock the OnceKey vault',
    newVault:
      'This computer has no keychain OnceKey can use. Choose a passphrase (8 characters or more) that protects the vault; you will type it each time OnceKey starts.',
    existing: 'This computer has no keychain OnceKey can use. Type the vault passphrase.',
    label: 'Passphrase',
    ok: 'Unlock',
    cancel: 'Quit',
  },
  zh: {
    title: '解锁 OnceKey 卡密库',
    newVault: '此电脑没有 OnceKey 可用的系统钥匙串。请设置保护卡密库的口令（至少 8 个字符），之后每次启动 OnceKey 都需要输入。',
    existing: '此电脑没有 OnceKey 可用的系统钥匙串。请输入卡密库口令。',
    label: '口令',
    ok: '解锁',
    cancel: '退出',
  },
} as const;

const escape = (text: string): string => text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

function page(locale: string, isNew: boolean, error: string | null): string {
  const t = locale.toLowerCase().startsWith('zh') ? TEXT.zh : TEXT.en;
  return `<!doctype html><html lang="${locale.startsWith('zh') ? 'zh-CN' : 'en'}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>${escape(t.title)}</title><style>
body{font:14px/1.5 system-ui,'PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif;margin:24px;color:#1b1f24;background:#fff}
@media (prefers-color-scheme:dark){body{color:#e6e9ee;background:#171b21}input{background:#0f1216;color:inherit}}
h1{font-size:16px;margin:0 0 8px}p{margin:0 0 12px;color:#5d6673}.err{color:#c92a2a}
input{width:100%;box-sizing:border-box;height:34px;padding:0 8px;border:1px solid #cdd2da;border-radius:6px;font:inherit}
.row{display:flex;gap:8px;justify-content:flex-end;margin-top:16px}button{height:32px;padding:0 14px;border-radius:6px;border:1px solid #cdd2da;font:inherit;cursor:pointer}
button[type=submit]{background:#2563eb;border-color:#2563eb;color:#fff}</style></head><body>
<h1>${escape(t.title)}</h1><p>${escape(isNew ? t.newVault : t.existing)}</p>${error ? `<p class="err" role="alert">${escape(error)}</p>` : ''}
<form id="f"><label>${escape(t.label)}<br><input id="p" type="password" autocomplete="current-password" minlength="${isNew ? 8 : 1}" required autofocus></label>
<div class="row"><button type="button" id="c">${escape(t.cancel)}</button><button type="submit">${escape(t.ok)}</button></div></form>
<script>document.getElementById('f').addEventListener('submit',function(e){e.preventDefault();window.oncekeyPrompt.submit(document.getElementById('p').value)});
document.getElementById('c').addEventListener('click',function(){window.oncekeyPrompt.submit(null)});</script></body></html>`;
}

export function askPassphrase(options: {
  preload: string;
  locale: string;
  isNew: boolean;
  error: string | null;
}): Promise<string | null> {
  const window = new BrowserWindow({
    width: 460,
    height: 300,
    resizable: false,
    minimizable: false,
    maximizable: false,
    title: 'OnceKey',
    show: false,
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      spellcheck: false,
    },
  });
  window.setMenuBarVisibility(false);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (value: string | null): void => {
      if (settled) return;
      settled = true;
      ipcMain.removeListener(PASSPHRASE_CHANNEL, onSubmit);
      if (!window.isDestroyed()) window.close();
      resolve(value);
    };
    const onSubmit = (event: IpcMainEvent, value: unknown): void => {
      if (event.sender !== window.webContents) return; // only this prompt may answer
      finish(typeof value === 'string' && value.length > 0 ? value : null);
    };
    ipcMain.on(PASSPHRASE_CHANNEL, onSubmit);
    window.on('closed', () => finish(null));
    window.once('ready-to-show', () => window.show());
    void window.loadURL(`data:text/html;charset=utf-8,${encodeURIComponent(page(options.locale, options.isNew, options.error))}`);
  });
}
