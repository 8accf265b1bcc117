/** Rotating the admin token and the webhook secret (shown once), and the vault passphrase. */
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import type { SettingsView } from '../../../shared/rpc/settings';
import { Button, Card, Confirm, Dialog, Field, Input, toast } from '../../components';
import { useTransport } from '../../transport';
import { formatTime } from '../dashboard/format';
import { useSettings } from './store';

type Secret = 'adminToken' | 'webhookSecret';

export function SecretsCard({ settings }: { settings: SettingsView }) {
  const { t, i18n } = useTranslation('settings');
  const transport = useTransport();
  const rotate = useSettings((s) => s.rotate);
  const [asking, setAsking] = useState<Secret | null>(null);
  const [shown, setShown] = useState<{ which: Secret; value: string; file: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const when = { adminToken: settings.secrets.adminTokenRotatedAt, webhookSecret: settings.secrets.webhookSecretRotatedAt };
  const name = (which: Secret) => t(`secrets.${which}`);

  return (
    <Card title={t('secrets.title')} subtitle={t('secrets.subtitle')}>
      {settings.backend.kind === 'postgres' ? (
        <p className="muted settings-note" role="note">
          {t('secrets.perServer')}
        </p>
      ) : null}
      <ul className="settings-list">
        {(['adminToken', 'webhookSecret'] as const).map((which) => (
          <li key={which} className="settings-list__item">
            <div>
              <div className="settings-list__name">{name(which)}</div>
              <div className="muted settings-list__meta">
                {when[which]
                  ? t('secrets.rotatedAt', { time: formatTime(when[which], i18n.language) })
                  : t('secrets.neverRotated')}
              </div>
            </div>
            <Button onClick={() => setAsking(which)}>{t('secrets.rotate')}</Button>
          </li>
        ))}
      </ul>
      <Confirm
        open={asking !== null}
        danger
        title={asking ? t('secrets.rotateTitle', { name: name(asking) }) : ''}
        confirmLabel={t('secrets.rotateConfirm')}
        onCancel={() => setAsking(null)}
        onConfirm={async () => {
          if (!asking) return;
          const result = await rotate(transport, asking);
          setAsking(null);
          setCopied(false);
          setShown({ which: result.which, value: result.value, file: result.file });
        }}
      >
        <p>{t('secrets.rotateBody')}</p>
      </Confirm>
      <Dialog
        open={shown !== null}
        title={shown ? t('secrets.shownOnce', { name: name(shown.which) }) : ''}
        onClose={() => setShown(null)}
        footer={
          <Button variant="primary" onClick={() => setShown(null)}>
            {t('states.done', { ns: 'common' })}
          </Button>
        }
      >
        {shown ? (
          <div className="stack">
            <p>{t('secrets.shownOnceBody', { file: shown.file })}</p>
            <div className="row">
              <code className="mono settings-secret">{shown.value}</code>
              <Button
                size="sm"
                onClick={() => {
                  void navigator.clipboard?.writeText(shown.value).then(() => setCopied(true));
                }}
              >
                {copied ? t('actions.copied', { ns: 'common' }) : t('actions.copy', { ns: 'common' })}
              </Button>
            </div>
          </div>
        ) : null}
      </Dialog>
    </Card>
  );
}

export function VaultCard({ settings }: { settings: SettingsView }) {
  const { t } = useTranslation('settings');
  const transport = useTransport();
  const setPassphrase = useSettings((s) => s.setPassphrase);
  const has = settings.vault.passphrase;
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const tooShort = next.length < 8;
  const mismatch = next !== repeat;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (tooShort || mismatch) return;
    setBusy(true);
    setPassphrase(transport, next, has ? current : undefined)
      .then(() => {
        toast.success(t('vault.done'));
        setCurrent('');
        setNext('');
        setRepeat('');
        setTouched(false);
      })
      .catch((error: unknown) => toast.fromError(t, error))
      .finally(() => setBusy(false));
  };

  return (
    <Card title={t('vault.title')} subtitle={t('vault.subtitle')}>
      <form onSubmit={submit} noValidate className="stack">
        <p className="muted">{has ? t('vault.hasPassphrase') : t('vault.noPassphrase')}</p>
        <div className="settings-grid">
          {has ? (
            <Field label={t('vault.current')}>
              <Input
                type="password"
                autoComplete="current-password"
                value={current}
                onChange={(e) => setCurrent(e.target.value)}
              />
            </Field>
          ) : null}
          <Field label={t('vault.next')} hint={t('vault.hint')} error={touched && tooShort ? t('vault.tooShort') : undefined}>
            <Input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} />
          </Field>
          <Field label={t('vault.repeat')} error={touched && !tooShort && mismatch ? t('vault.mismatch') : undefined}>
            <Input type="password" autoComplete="new-password" value={repeat} onChange={(e) => setRepeat(e.target.value)} />
          </Field>
        </div>
        <div className="row">
          <Button type="submit" variant="primary" busy={busy}>
            {has ? t('vault.change') : t('vault.set')}
          </Button>
        </div>
      </form>
    </Card>
  );
}
