/**
 * The desktop window's preload (sandboxed, built as CommonJS): exposes exactly one object,
 * `window.oncekey` (shared/bridge.ts), and no raw ipcRenderer.
 */
import { contextBridge, ipcRenderer } from 'electron';
import type { OnceKeyBridge } from '../../shared/bridge';
import { createBridge } from './bridge';

// createBridge returns exactly { call, subscribe }: closures, nothing that reaches ipcRenderer itself.
contextBridge.exposeInMainWorld('oncekey', createBridge(ipcRenderer) satisfies OnceKeyBridge);
