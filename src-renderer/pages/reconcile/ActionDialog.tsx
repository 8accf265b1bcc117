/**
 * Acting on one finding or many: a note saying why (required), the choices the action needs (burn or
 * return codes on a refund, the order a payment belongs to), then a preview of exactly what will happen
 * from the main process; only after the preview can the agent confirm. Errors stay in the dialog.
 */
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { ActionKind, ActionOutcome, ReconcileFinding } from '../../../shared/reconcile';
import { Button, describeError, Dialog, Field, Input, Select, toast } from '../../components';
import { useTransport } from '../../transport';
import { useReconcile } from './store';

export interface ActionDialogProps {
  readonly action: ActionKind | null;
  readonly findings: readonly ReconcileFinding[];
  readonly onClose: () => void;
}

export function ActionDialog({ action, findings, onClose }: ActionDialogProps) {
  const { t } = useTranslation('reconcile');
  const transport = useTransport();
  const act = useReconcile((s) => s.act);
  const [note, setNote] = useState('');
  const [keys, setKeys] = useState<'burn' | 'return'>('burn');
  const [linkOrder, setLinkOrder] = useState('');
  const [preview, setPreview] = useState<readonly ActionOutcome[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [noteError, setNoteError] = useState(false);

  useEffect(() => {
    setNote('');
    setPreview(null);
    setError(null);
    setNoteError(false);
    setLinkOrder(
      findings.length === 1 && findings[0]!.kind !== 'statement_payment_unknown_order' ? (findings[0]!.orderId ?? '') : '',
    );
  }, [action, findings]);

  if (action === null) return null;
  const request = (isPreview: boolean) => ({
    action,
    note: note.trim(),
    preview: isPreview,
    ...(action === 'refund' ? { keys } : {}),
    targets: findings.map((f) => ({
      findingId: f.id,
      ...(action === 'link_payment' && linkOrder.trim()
        ? { orderId: linkOrder.trim() }
        : f.orderId && f.kind === 'key_sold_twice'
          ? { orderId: f.orderId }
          : {}),
      ...(f.paymentId ? { paymentId: f.paymentId } : {}),
    })),
  });
  const run = async (isPreview: boolean) => {
    if (note.trim() === '') {
      setNoteError(true);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const result = await act(transport, request(isPreview));
      if (isPreview) setPreview(result.outcomes);
      else {
        toast.success(t('action.done', { count: result.outcomes.length }));
        onClose();
      }
    } catch (caught) {
      setError(describeError(t, caught));
      setPreview(null);
    } finally {
      setBusy(false);
    }
  };
  const label = t(`action.${action}`);
  const title =
    findings.length === 1
      ? t('action.titleOne', { action: label, id: findings[0]!.id })
      : t('action.titleMany', { action: label, count: findings.length });
  const changed = () => setPreview(null);
  return (
    <Dialog
      open
      title={title}
      onClose={onClose}
      locked={busy}
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            {t('actions.cancel', { ns: 'common' })}
          </Button>
          <Button onClick={() => void run(true)} busy={busy && preview === null}>
            {t('action.preview')}
          </Button>
          <Button
            variant={action === 'refund' ? 'danger' : 'primary'}
            disabled={preview === null}
            busy={busy && preview !== null}
            onClick={() => void run(false)}
          >
            {t('action.apply')}
          </Button>
        </>
      }
    >
      <div className="stack">
        <Field label={t('action.note')} error={noteError && note.trim() === '' ? t('action.noteRequired') : undefined}>
          <Input
            value={note}
            placeholder={t('action.notePlaceholder')}
            onChange={(e) => {
              setNote(e.target.value);
              changed();
            }}
            data-autofocus
          />
        </Field>
        {action === 'refund' ? (
          <Field label={t('action.keys')}>
            <Select
              value={keys}
              onChange={(e) => {
                setKeys(e.target.value === 'return' ? 'return' : 'burn');
                changed();
              }}
              options={[
                { value: 'burn', label: t('action.burn') },
                { value: 'return', label: t('action.return') },
              ]}
            />
          </Field>
        ) : null}
        {action === 'link_payment' && findings.length === 1 ? (
          <Field label={t('action.linkOrder')}>
            <Input
              className="mono"
              value={linkOrder}
              onChange={(e) => {
                setLinkOrder(e.target.value);
                changed();
              }}
            />
          </Field>
        ) : null}
        {preview ? (
          <div className="rc-preview" aria-live="polite">
            <h4>{t('action.previewTitle')}</h4>
            <ul>
              {preview.map((o) => (
                <li key={o.findingId}>
                  <span className="mono">{o.findingId}</span>
                  <ul>
                    {o.effects.map((effect, i) => (
                      <li key={i}>{effect}</li>
                    ))}
                  </ul>
                </li>
              ))}
            </ul>
          </div>
        ) : (
          <p className="muted">{t('action.previewFirst')}</p>
        )}
        {error ? (
          <p className="field__error" role="alert">
            {error}
          </p>
        ) : null}
      </div>
    </Dialog>
  );
}
