/**
 * "Are you sure?" for actions that change money or keys (mark paid, refund, release a hold). The
 * confirm button shows progress while `onConfirm` runs; a failure stays in the dialog with its message.
 */
import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { describeError } from './errors';
import { Button } from './Button';
import { Dialog } from './Dialog';

export interface ConfirmProps {
  readonly open: boolean;
  readonly title: ReactNode;
  readonly children?: ReactNode;
  readonly confirmLabel?: string;
  readonly danger?: boolean;
  readonly onConfirm: () => Promise<void> | void;
  readonly onCancel: () => void;
}

export function Confirm({ open, title, children, confirmLabel, danger = false, onConfirm, onCancel }: ConfirmProps) {
  const { t } = useTranslation('common');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const close = () => {
    setError(null);
    onCancel();
  };
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
    } catch (caught) {
      setError(describeError(t, caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      open={open}
      title={title}
      onClose={close}
      size="sm"
      locked={busy}
      footer={
        <>
          <Button onClick={close} disabled={busy}>
            {t('actions.cancel')}
          </Button>
          <Button variant={danger ? 'danger' : 'primary'} busy={busy} onClick={() => void confirm()} data-autofocus>
            {confirmLabel ?? t('actions.confirm')}
          </Button>
        </>
      }
    >
      {children}
      {error ? (
        <p className="field__error" role="alert">
          {error}
        </p>
      ) : null}
    </Dialog>
  );
}
