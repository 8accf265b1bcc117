/**
 * electron-vite build (`npm run build`): the main process (ESM, dependencies left in node_modules,
 * better-sqlite3 loaded at run time), the preloads (CommonJS `.cjs`, one self-contained file each: a
 * sandboxed preload cannot load ES modules or other chunks) and the renderer (React, relative URLs so
 * the desktop window can load it from disk and browser mode can serve it under /admin/).
 * Building needs no Electron binary.
 */
import { cpSync } from 'node:fs';
import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';

const root = import.meta.dirname;

/** The endpoint serves the buyer page from `./public/` next to its module: in the bundle, out/main/public. */
function copyBuyerPage(): Plugin {
  return {
    name: 'oncekey:copy-buyer-page',
    apply: 'build',
    writeBundle() {
      cpSync(resolve(root, 'src-main/http/public'), resolve(root, 'out/main/public'), { recursive: true });
    },
  };
}

export default defineConfig({
  main: {
    plugins: [copyBuyerPage()],
    build: {
      outDir: resolve(root, 'out/main'),
      externalizeDeps: true,
      lib: {
        entry: {
          index: resolve(root, 'src-main/electron/main.ts'),
          // The simulator's worker threads load `./live-worker.js` next to the main bundle.
          'live-worker': resolve(root, 'src-main/sim/live-worker.ts'),
          // A big shop's reconciliation runs in `./reconcile-worker.js`, off the endpoint's event loop.
          'reconcile-worker': resolve(root, 'src-main/reconcile/reconcile-worker.ts'),
          // A long ledger's replay and most of its hashing run in `./ledger-worker.js` (engine/ledger-verify.ts).
          'ledger-worker': resolve(root, 'src-main/engine/ledger-worker.ts'),
          // New orders' ids and access tokens are made ahead of time in `./ticket-worker.js` (engine/tickets.ts).
          'ticket-worker': resolve(root, 'src-main/engine/tickets.ts'),
        },
        formats: ['es'],
      },
      // fflate's ESM build declares its own `require`, which clashes with electron-vite's ESM shim when bundled.
      rollupOptions: { external: ['better-sqlite3', 'electron', 'fflate'] },
    },
  },
  preload: {
    build: {
      outDir: resolve(root, 'out/preload'),
      externalizeDeps: false,
      rollupOptions: {
        input: {
          preload: resolve(root, 'src-main/electron/preload.ts'),
          'prompt-preload': resolve(root, 'src-main/electron/prompt-preload.ts'),
        },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(root, 'src-renderer'),
    base: './',
    plugins: [react()],
    build: {
      outDir: resolve(root, 'out/renderer'),
      // No data: URLs: the pages' CSP allows images and fonts from 'self' only.
      assetsInlineLimit: 0,
      minify: true,
      // One bundle for a local app: nothing is fetched over a network, so size warnings do not apply.
      chunkSizeWarningLimit: 8192,
      rollupOptions: { input: resolve(root, 'src-renderer/index.html') },
    },
  },
});
