/**
 * The import dialog's state machine: choose a source (paste or file, encoding, CSV column) → preview
 * (counts, duplicates, skipped lines; nothing stored) → import with progress and cancel → done.
 * Progress comes from the main process's `import` events for this product.
 */
import { create } from 'zustand';
import type { Transport } from '../../transport/types';
import { fileToBase64, MAX_UPLOAD_BYTES } from './import-source';
import { type ImportEncodingChoice, type ImportOptions, type ImportOutcome, previewImport, runImport } from './keys-api';

export type ImportStep = 'source' | 'previewing' | 'preview' | 'importing' | 'done';

export interface ImportState {
  readonly step: ImportStep;
  readonly mode: 'paste' | 'file';
  readonly text: string;
  readonly file: File | null;
  readonly encoding: ImportEncodingChoice | null;
  readonly column: number | null;
  readonly report: ImportOutcome | null;
  readonly progress: { readonly done: number; readonly total: number | null } | null;
  readonly error: unknown;
  setMode: (mode: 'paste' | 'file') => void;
  setText: (text: string) => void;
  setFile: (file: File | null) => void;
  /** Changing the encoding or column after a preview previews again. */
  setEncoding: (encoding: ImportEncodingChoice | null) => void;
  setColumn: (column: number | null) => void;
  preview: (transport: Transport, productId: string) => Promise<void>;
  start: (transport: Transport, productId: string) => Promise<ImportOutcome | null>;
  onProgress: (done: number, total: number | null) => void;
  back: () => void;
  reset: () => void;
}

const INITIAL = {
  step: 'source' as ImportStep,
  mode: 'paste' as const,
  text: '',
  file: null,
  encoding: null,
  column: null,
  report: null,
  progress: null,
  error: null,
};

export class UploadTooLarge extends Error {
  constructor(readonly max: number) {
    super(`files over ${max} bytes are imported from the command line`);
  }
}

let run = 0;

export const useImport = create<ImportState>()((set, get) => {
  async function options(productId: string): Promise<ImportOptions> {
    const { mode, text, file, encoding, column } = get();
    if (mode === 'file') {
      if (!file) throw new Error('no file chosen');
      if (file.size > MAX_UPLOAD_BYTES) throw new UploadTooLarge(MAX_UPLOAD_BYTES);
      return { productId, source: { kind: 'bytes', base64: await fileToBase64(file), name: file.name }, encoding, column };
    }
    return { productId, source: { kind: 'text', text }, encoding, column };
  }

  return {
    ...INITIAL,
    setMode: (mode) => set({ mode, step: 'source', report: null, error: null, column: null }),
    setText: (text) => set({ text, step: 'source', report: null, error: null }),
    setFile: (file) => set({ file, step: 'source', report: null, error: null, column: null, encoding: null }),
    setEncoding: (encoding) => set({ encoding }),
    setColumn: (column) => set({ column }),

    async preview(transport, productId) {
      const mine = ++run;
      set({ step: 'previewing', error: null, progress: null });
      try {
        const report = await previewImport(transport, await options(productId));
        if (mine === run) set({ step: 'preview', report, progress: null });
      } catch (error) {
        if (mine === run) set({ step: 'source', error, progress: null });
      }
    },

    async start(transport, productId) {
      const mine = ++run;
      set({ step: 'importing', error: null, progress: { done: 0, total: get().report?.lines ?? null } });
      try {
        const report = await runImport(transport, await options(productId));
        if (mine !== run) return null;
        set({ step: 'done', report, progress: null });
        return report;
      } catch (error) {
        if (mine !== run) return null;
        // A failed import stored nothing: back to the preview with the reason.
        set({ step: 'preview', error, progress: null });
        return null;
      }
    },

    onProgress(done, total) {
      // A preview reads the whole source too: a big file shows its progress both times.
      const step = get().step;
      if (step === 'importing' || step === 'previewing') set({ progress: { done, total } });
    },

    back: () => set({ step: 'source', report: null, error: null }),
    reset: () => {
      run++;
      set(INITIAL);
    },
  };
});
