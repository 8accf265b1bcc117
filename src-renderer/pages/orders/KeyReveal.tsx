/**
 * Reveals one code of an order on request (`keys.reveal`, which writes an audit row naming the viewer),
 * then refreshes the order so the reveal shows in its timeline. The code is kept only in this
 * component's state and dropped when hidden.
 */
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Button, toast } from '../../components';
import { useTransport } from '../../transport';
import { useOrders } from './store';

export function KeyReveal({ keyId }: { keyId: number }) {
  const { t } = useTranslation('orders');
  const transport = useTransport();
  const refresh = useOrders((s) => s.refreshDetail);
  const [code, setCode] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (code !== null) {
    return (
      <>
        <Button size="sm" variant="ghost" onClick={() => setCode(null)}>
          {t('detail.hide')}
        </Button>
        <code className="mono order-keys__code" aria-label={t('detail.revealed', { id: keyId })}>
          {code}
        </code>
      </>
    );
  }
  return (
    <Button
      size="sm"
      busy={busy}
      onClick={() => {
        setBusy(true);
        transport
          .call('keys.reveal', { keyId, purpose: 'reveal' })
          .then(async (result) => {
            setCode(result.code);
            await refresh(transport);
          })
          .catch((error: unknown) => toast.fromError(t, error))
          .finally(() => setBusy(false));
      }}
    >
      {t('detail.reveal')}
    </Button>
  );
}
