/**
 * The header's connection badge: which transport this window uses (desktop IPC or browser mode) and
 * whether the engine answers (a `products.list` probe when the window opens, repeated with "Try again").
 */
import { useCallback, useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { describeError } from '../components/errors';
import { useTransport } from '../transport';

type Status =
  | { readonly state: 'checking' }
  | { readonly state: 'ready'; readonly products: number }
  | { readonly state: 'failed'; readonly message: string };

export function ConnectionStatus() {
  const { t } = useTranslation('common');
  const transport = useTransport();
  const [status, setStatus] = useState<Status>({ state: 'checking' });

  const probe = useCallback(async () => {
    setStatus({ state: 'checking' });
    try {
      const { products } = await transport.call('products.list', {});
      setStatus({ state: 'ready', products: products.length });
    } catch (error) {
      setStatus({ state: 'failed', message: describeError(t, error) });
    }
  }, [transport, t]);

  useEffect(() => {
    void probe();
  }, [probe]);

  const label =
    status.state === 'ready'
      ? t('connection.ready')
      : status.state === 'checking'
        ? t('connection.checking')
        : t('connection.failed');
  return (
    <div className={`conn conn--${status.state}`} data-testid="connection-status">
      <span className="conn__dot" aria-hidden="true" />
      <span className="conn__kind">{t(`connection.${transport.kind}`)}</span>
      <span className="conn__sep" aria-hidden="true">
        ·
      </span>
      <span role="status" title={status.state === 'failed' ? status.message : undefined}>
        {label}
      </span>
      {status.state === 'failed' ? (
        <>
          <span className="visually-hidden">{status.message}</span>
          <button type="button" className="link-btn" onClick={() => void probe()}>
            {t('connection.retry')}
          </button>
        </>
      ) : null}
    </div>
  );
}
