/**
 * The support actions on one order, each behind a confirmation that says exactly what will happen:
 * mark paid (a test payment), refund (burn or return the codes, with a reason), deliver again (optionally
 * replacing bad codes), release a hold, and re-query the payment channels. The main process records
 * each in the audit trail.
 */
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { OrderDetail } from '../../../shared/rpc/orders';
import { Button, Confirm, describeError, Field, Input, toast } from '../../components';
import { useTransport } from '../../transport';
import { formatMoney } from '../dashboard/format';
import { useOrders } from './store';

type Open = 'markPaid' | 'refund' | 'redeliver' | 'release' | null;

export function OrderActions({ detail }: { detail: OrderDetail }) {
  const { t, i18n } = useTranslation('orders');
  const transport = useTransport();
  const { markPaid, refund, redeliver, release, requery } = useOrders.getState();
  const [open, setOpen] = useState<Open>(null);
  const [keys, setKeys] = useState<'burn' | 'return'>('burn');
  const [reason, setReason] = useState('');
  const [reasonError, setReasonError] = useState(false);
  const [replace, setReplace] = useState<readonly number[]>([]);
  const [atGateway, setAtGateway] = useState(false);
  const [asking, setAsking] = useState(false);
  const { order } = detail;
  const held = detail.keys.filter((k) => k.status === 'reserved').length;
  const delivered = detail.keys.filter((k) => k.status === 'sold');
  const paid = order.paidAt !== null || detail.payments.length > 0;
  // The channel payment a gateway refund would give back (the latest delivered one).
  const channelPayment = [...detail.payments].reverse().find((p) => p.tradeNo !== null && p.outcome === 'delivered');

  const can = {
    markPaid: order.status === 'reserved' || order.status === 'expired',
    refund: order.status === 'delivered' || order.status === 'paid' || order.status === 'needs_review',
    redeliver: paid && (order.status === 'delivered' || order.status === 'paid' || order.status === 'needs_review'),
    release: order.status === 'reserved' || (order.status === 'needs_review' && held > 0),
    requery: detail.checkouts.length > 0 && (order.status === 'reserved' || order.status === 'expired'),
  };

  const start = (which: Open) => {
    setReason('');
    setReasonError(false);
    setReplace([]);
    setKeys('burn');
    setAtGateway(channelPayment !== undefined);
    setOpen(which);
  };
  /** The reason, or null (and the field says it is required): the dialog stays open. */
  const needReason = (): string | null => {
    const text = reason.trim();
    if (!text) setReasonError(true);
    return text || null;
  };
  const reasonField = (
    <Field label={t('action.reason')} error={reasonError ? t('action.reasonRequired') : undefined}>
      <Input
        value={reason}
        maxLength={500}
        placeholder={t('action.reasonPlaceholder')}
        onChange={(event) => {
          setReason(event.target.value);
          setReasonError(false);
        }}
      />
    </Field>
  );

  if (!Object.values(can).some(Boolean)) return <p className="muted">{t('action.none')}</p>;

  return (
    <div className="order-actions">
      <div className="row">
        {can.markPaid ? (
          <Button variant="primary" onClick={() => start('markPaid')}>
            {t('action.markPaid')}
          </Button>
        ) : null}
        {can.redeliver ? <Button onClick={() => start('redeliver')}>{t('action.redeliver')}</Button> : null}
        {can.release ? <Button onClick={() => start('release')}>{t('action.release')}</Button> : null}
        {can.requery ? (
          <Button
            disabled={asking}
            onClick={() => {
              setAsking(true);
              requery(transport, order.id)
                .then((asked) => toast.info(t('action.requeryDone', { count: asked })))
                .catch((error: unknown) => toast.error(describeError(t, error)))
                .finally(() => setAsking(false));
            }}
          >
            {t('action.requery')}
          </Button>
        ) : null}
        {can.refund ? (
          <Button variant="danger" onClick={() => start('refund')}>
            {t('action.refund')}
          </Button>
        ) : null}
      </div>

      <Confirm
        open={open === 'markPaid'}
        title={t('action.markPaidTitle')}
        confirmLabel={t('action.markPaid')}
        onCancel={() => setOpen(null)}
        onConfirm={async () => {
          const result = await markPaid(transport, order.id);
          setOpen(null);
          if (result.effect === 'needs_review') toast.info(t('action.markPaidReview'));
          else toast.success(t('action.markPaidDone'));
        }}
      >
        <p>
          {t('action.markPaidBody', {
            id: order.id,
            amount: formatMoney({ amount: order.amount, currency: order.currency }, i18n.language),
            email: order.email,
          })}
        </p>
      </Confirm>

      <Confirm
        open={open === 'refund'}
        danger
        title={t('action.refundTitle')}
        confirmLabel={t('action.refundConfirm')}
        onCancel={() => setOpen(null)}
        onConfirm={async () => {
          const text = needReason();
          if (text === null) return;
          await refund(transport, order.id, keys, text, atGateway && channelPayment !== undefined);
          setOpen(null);
          toast.success(t('action.refundDone'));
        }}
      >
        <div className="stack">
          <p>{t('action.refundBody', { id: order.id })}</p>
          <fieldset className="choice">
            <legend className="visually-hidden">{t('detail.keys')}</legend>
            {(['burn', 'return'] as const).map((choice) => (
              <label key={choice} className="choice__item">
                <input
                  type="radio"
                  name="refund-keys"
                  value={choice}
                  checked={keys === choice}
                  onChange={() => setKeys(choice)}
                />
                <span>
                  <strong>{t(choice === 'burn' ? 'action.refundBurn' : 'action.refundReturn')}</strong>
                  <span className="muted choice__hint">
                    {t(choice === 'burn' ? 'action.refundBurnHint' : 'action.refundReturnHint')}
                  </span>
                </span>
              </label>
            ))}
          </fieldset>
          {channelPayment ? (
            <label className="choice__item">
              <input type="checkbox" checked={atGateway} onChange={(event) => setAtGateway(event.target.checked)} />
              <span>
                <strong>{t('action.refundAtGateway', { channel: t(`detail.paymentSource.${channelPayment.source}`) })}</strong>
                <span className="muted choice__hint">{t('action.refundAtGatewayHint')}</span>
              </span>
            </label>
          ) : null}
          {reasonField}
        </div>
      </Confirm>

      <Confirm
        open={open === 'redeliver'}
        title={t('action.redeliverTitle')}
        confirmLabel={t('action.redeliverConfirm')}
        onCancel={() => setOpen(null)}
        onConfirm={async () => {
          const text = needReason();
          if (text === null) return;
          const result = await redeliver(transport, order.id, replace, text);
          setOpen(null);
          toast.success(
            result.burned.length > 0 ? t('action.redeliverReplaced', { count: result.burned.length }) : t('action.redeliverDone'),
          );
        }}
      >
        <div className="stack">
          <p>{t('action.redeliverBody')}</p>
          {delivered.length > 0 ? (
            <fieldset className="choice">
              <legend className="visually-hidden">{t('detail.keys')}</legend>
              {delivered.map((key) => (
                <label key={key.id} className="choice__item">
                  <input
                    type="checkbox"
                    checked={replace.includes(key.id)}
                    onChange={(event) =>
                      setReplace((now) => (event.target.checked ? [...now, key.id] : now.filter((id) => id !== key.id)))
                    }
                  />
                  <span>{t('action.replace', { id: key.id })}</span>
                </label>
              ))}
            </fieldset>
          ) : null}
          {reasonField}
        </div>
      </Confirm>

      <Confirm
        open={open === 'release'}
        title={t('action.releaseTitle')}
        confirmLabel={t('action.release')}
        onCancel={() => setOpen(null)}
        onConfirm={async () => {
          await release(transport, order.id);
          setOpen(null);
          toast.success(t('action.releaseDone'));
        }}
      >
        <p>{t('action.releaseBody', { id: order.id, count: held })}</p>
      </Confirm>
    </div>
  );
}
