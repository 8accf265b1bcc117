/**
 * The shop's endpoint and order settings as one form. Saving a host other than this PC's own asks first,
 * with a plain warning; settings that wait for a restart say so.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { HOST_PATTERN, isLocalHost, type SettingsView, type ShopSettings } from '../../../shared/rpc/settings';
import { Button, Card, Confirm, Field, Input, toast } from '../../components';
import { useTransport } from '../../transport';
import { useSettings } from './store';

interface Draft {
  host: string;
  port: string;
  holdMinutes: string;
  purchaseLimit: string;
  publicUrl: string;
}

const toDraft = (s: SettingsView): Draft => ({
  host: s.host,
  port: String(s.port),
  holdMinutes: String(s.holdMinutes),
  purchaseLimit: String(s.purchaseLimit),
  publicUrl: s.publicUrl,
});

/** '' or an http(s) URL without a trailing slash; null when it is neither. */
function publicUrl(text: string): string | null {
  const value = text.trim();
  if (value === '') return '';
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && value.length <= 500 ? value.replace(/\/+$/, '') : null;
  } catch {
    return null;
  }
}

function wholeNumber(text: string, min: number, max: number): number | null {
  if (!/^\d+$/.test(text.trim())) return null;
  const n = Number(text.trim());
  return n >= min && n <= max ? n : null;
}

export function ShopForm({ settings }: { settings: SettingsView }) {
  const { t } = useTranslation('settings');
  const transport = useTransport();
  const save = useSettings((s) => s.save);
  const [draft, setDraft] = useState<Draft>(() => toDraft(settings));
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [warn, setWarn] = useState(false);
  useEffect(() => setDraft(toDraft(settings)), [settings]);

  const parsed = {
    host: draft.host.trim().length <= 253 && HOST_PATTERN.test(draft.host.trim()) ? draft.host.trim() : null,
    port: wholeNumber(draft.port, 1, 65535),
    holdMinutes: wholeNumber(draft.holdMinutes, 1, 7 * 24 * 60),
    purchaseLimit: wholeNumber(draft.purchaseLimit, 0, 1000),
    publicUrl: publicUrl(draft.publicUrl),
  };
  const valid = Object.values(parsed).every((v) => v !== null);
  const show = (ok: boolean, message: string) => (touched && !ok ? message : undefined);

  const patch = (): Partial<ShopSettings> => {
    const out: Partial<ShopSettings> = {};
    if (parsed.host !== null && parsed.host !== settings.host) out.host = parsed.host;
    if (parsed.port !== null && parsed.port !== settings.port) out.port = parsed.port;
    if (parsed.holdMinutes !== null && parsed.holdMinutes !== settings.holdMinutes) out.holdMinutes = parsed.holdMinutes;
    if (parsed.purchaseLimit !== null && parsed.purchaseLimit !== settings.purchaseLimit)
      out.purchaseLimit = parsed.purchaseLimit;
    if (parsed.publicUrl !== null && parsed.publicUrl !== settings.publicUrl) out.publicUrl = parsed.publicUrl;
    return out;
  };
  const commit = async () => {
    setBusy(true);
    try {
      const result = await save(transport, patch());
      toast.success(result.restartNeeded.length > 0 ? t('savedRestart') : t('saved'));
    } finally {
      setBusy(false);
    }
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (!valid) return;
    if (parsed.host !== null && parsed.host !== settings.host && !isLocalHost(parsed.host)) {
      setWarn(true);
      return;
    }
    commit().catch((error: unknown) => toast.fromError(t, error));
  };
  const set = (key: keyof Draft) => (event: { target: { value: string } }) =>
    setDraft((d) => ({ ...d, [key]: event.target.value }));
  const dirty = Object.keys(patch()).length > 0;

  return (
    <form onSubmit={submit} noValidate className="stack">
      <Card title={t('endpoint.title')} subtitle={t('endpoint.subtitle')}>
        <div className="settings-grid">
          <Field label={t('endpoint.host')} hint={t('endpoint.hostHint')} error={show(parsed.host !== null, t('invalid.host'))}>
            <Input value={draft.host} onChange={set('host')} spellCheck={false} autoComplete="off" />
          </Field>
          <Field label={t('endpoint.port')} hint={t('restartNote')} error={show(parsed.port !== null, t('invalid.port'))}>
            <Input value={draft.port} onChange={set('port')} inputMode="numeric" />
          </Field>
        </div>
        <Field
          label={t('endpoint.publicUrl')}
          hint={t('endpoint.publicUrlHint')}
          error={show(parsed.publicUrl !== null, t('invalid.publicUrl'))}
        >
          <Input
            value={draft.publicUrl}
            onChange={set('publicUrl')}
            spellCheck={false}
            autoComplete="off"
            inputMode="url"
            placeholder="https://shop.example.com"
          />
        </Field>
        {settings.exposed ? (
          <p className="settings-warning" role="note">
            {t('endpoint.exposedNow')}
          </p>
        ) : null}
      </Card>
      <Card title={t('orders.title')} subtitle={t('orders.subtitle')}>
        <div className="settings-grid">
          <Field
            label={t('orders.hold')}
            hint={t('orders.holdHint')}
            error={show(parsed.holdMinutes !== null, t('invalid.hold'))}
          >
            <Input value={draft.holdMinutes} onChange={set('holdMinutes')} inputMode="numeric" />
          </Field>
          <Field
            label={t('orders.limit')}
            hint={`${t('orders.limitHint')} ${t('restartNote')}`}
            error={show(parsed.purchaseLimit !== null, t('invalid.limit'))}
          >
            <Input value={draft.purchaseLimit} onChange={set('purchaseLimit')} inputMode="numeric" />
          </Field>
        </div>
      </Card>
      <div className="row settings-save">
        <Button type="submit" variant="primary" busy={busy} disabled={!dirty && touched && valid}>
          {t('actions.save', { ns: 'common' })}
        </Button>
        <Button onClick={() => setDraft(toDraft(settings))} disabled={!dirty || busy}>
          {t('actions.cancel', { ns: 'common' })}
        </Button>
      </div>
      <Confirm
        open={warn}
        danger
        title={t('endpoint.warnTitle')}
        confirmLabel={t('endpoint.warnConfirm', { host: parsed.host ?? '' })}
        onCancel={() => setWarn(false)}
        onConfirm={async () => {
          await commit();
          setWarn(false);
        }}
      >
        <p>{t('endpoint.warnBody', { host: parsed.host ?? '' })}</p>
      </Confirm>
    </form>
  );
}
