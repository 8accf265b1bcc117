/**
 * Short notices in the corner ("Saved", "Refund failed: …"), announced politely to screen readers.
 * Any code can raise one with `toast.success(text)` / `toast.error(text)` / `toast.fromError(t, error)`;
 * the shell renders <Toaster/> once.
 */
import { useEffect } from 'react';
import type { TFunction } from 'i18next';
import { useTranslation } from 'react-i18next';
import { create } from 'zustand';
import { describeError } from './errors';

export type ToastTone = 'info' | 'success' | 'error';

export interface ToastItem {
  readonly id: number;
  readonly tone: ToastTone;
  readonly message: string;
}

interface ToastState {
  readonly items: readonly ToastItem[];
  readonly push: (tone: ToastTone, message: string) => number;
  readonly dismiss: (id: number) => void;
}

let nextId = 1;
const MAX_VISIBLE = 4;

export const useToasts = create<ToastState>()((set) => ({
  items: [],
  push(tone, message) {
    const id = nextId++;
    set((state) => ({ items: [...state.items, { id, tone, message }].slice(-MAX_VISIBLE) }));
    return id;
  },
  dismiss(id) {
    set((state) => ({ items: state.items.filter((item) => item.id !== id) }));
  },
}));

export const toast = {
  info: (message: string) => useToasts.getState().push('info', message),
  success: (message: string) => useToasts.getState().push('success', message),
  error: (message: string) => useToasts.getState().push('error', message),
  fromError: (t: TFunction, error: unknown) => useToasts.getState().push('error', describeError(t, error)),
};

function ToastView({ item }: { item: ToastItem }) {
  const { t } = useTranslation('common');
  const dismiss = useToasts((state) => state.dismiss);
  useEffect(() => {
    const timer = setTimeout(() => dismiss(item.id), item.tone === 'error' ? 8000 : 4000);
    return () => clearTimeout(timer);
  }, [dismiss, item.id, item.tone]);
  return (
    <div className={`toast toast--${item.tone}`} role={item.tone === 'error' ? 'alert' : 'status'}>
      <span className="toast__message">{item.message}</span>
      <button type="button" className="icon-btn" onClick={() => dismiss(item.id)} aria-label={t('actions.dismiss')}>
        ×
      </button>
    </div>
  );
}

export function Toaster() {
  const items = useToasts((state) => state.items);
  return (
    <div className="toaster" aria-live="polite">
      {items.map((item) => (
        <ToastView key={item.id} item={item} />
      ))}
    </div>
  );
}
