/**
 * Preload of the passphrase prompt (a tiny window shown before the shop opens when the OS keychain is
 * not usable): exposes `window.oncekeyPrompt.submit(passphrase | null)` and nothing else.
 */
import { contextBridge, ipcRenderer } from 'electron';

contextBridge.exposeInMainWorld('oncekeyPrompt', {
  submit: (passphrase: unknown) => ipcRenderer.send('oncekey:passphrase', typeof passphrase === 'string' ? passphrase : null),
});
