/**
 * Settings → Payments: the shop's payment channels. Each can be configured (secrets are write-only: a
 * set one shows as "set" and an empty field keeps it), tested with a signed self-check that needs no
 * network, switched off and on, or removed. The notify address to give each gateway is shown with a copy
 * button, and a warning when it names this PC only (no gateway on the internet can reach it).
 */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { CHANNEL_NAMES, type ChannelListing, type ChannelName, type ChannelSelfCheck } from '../../../shared/payments';
import type { PaymentsView } from '../../../shared/rpc/payments';
import { Badge, Button, Card, Confirm, Field, Input, Select, Spinner, Textarea, toast } from '../../components';
import { useTransport } from '../../transport';
import { draftOf, isSecret, PAYMENT_FORMS, problemsOf, settingsOf, visible, type Draft, type FormField } from './payment-form';

export function PaymentsCard() {
  const { t } = useTranslation('settings');
  const transport = useTransport();
  const [view, setView] = useState<PaymentsView | null>(null);
  const [failed, setFailed] = useState<unknown>(null);
  const reload = useCallback(async () => {
    try {
      setView(await transport.call('payments.list', {}));
      setFailed(null);
    } catch (error) {
      setFailed(error);
    }
  }, [transport]);
  useEffect(() => {
    void reload();
  }, [reload]);

  return (
    <Card title={t('payments.title')} subtitle={t('payments.subtitle')}>
      {!view ? (
        failed ? (
          <p className="settings-warning" role="alert">
            {t('payments.loadFailed')}
          </p>
        ) : (
          <Spinner />
        )
      ) : (
        <div className="stack">
          {view.notifyUnreachable ? (
            <p className="settings-warning" role="note">
              {t('payments.unreachable', { address: view.publicBase })}
            </p>
          ) : null}
          <ul className="settings-list payments">
            {CHANNEL_NAMES.map((name) => (
              <ChannelItem
                key={name}
                name={name}
                listing={view.channels.find((c) => c.name === name)}
                notifyUrl={`${view.publicBase}/api/v1/payments/${name}/notify`}
                onChanged={reload}
              />
            ))}
          </ul>
        </div>
      )}
    </Card>
  );
}

async function copy(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

function ChannelItem({
  name,
  listing,
  notifyUrl,
  onChanged,
}: {
  name: ChannelName;
  listing: ChannelListing | undefined;
  notifyUrl: string;
  onChanged: () => Promise<void>;
}) {
  const { t } = useTranslation('settings');
  const transport = useTransport();
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState<null | 'test' | 'switch'>(null);
  const [check, setCheck] = useState<ChannelSelfCheck | null>(null);
  const [removing, setRemoving] = useState(false);
  const state = !listing ? 'none' : listing.enabled ? 'on' : 'off';

  const run = async (which: 'test' | 'switch', action: () => Promise<void>) => {
    setBusy(which);
    try {
      await action();
    } catch (error) {
      toast.fromError(t, error);
    } finally {
      setBusy(null);
    }
  };

  return (
    <li className="payments__channel" aria-label={t(`payments.channel.${name}`)}>
      <div className="settings-list__item">
        <div>
          <strong className="settings-list__name">{t(`payments.channel.${name}`)}</strong>{' '}
          <Badge tone={state === 'on' ? 'success' : state === 'off' ? 'warning' : 'neutral'}>
            {t(`payments.state.${state}`)}
          </Badge>
          <p className="muted payments__about">{t(`payments.about.${name}`)}</p>
        </div>
        <div className="row">
          <Button onClick={() => setEditing((open) => !open)} aria-expanded={editing}>
            {listing ? t('payments.edit') : t('payments.configure')}
          </Button>
          {listing ? (
            <>
              <Button
                busy={busy === 'test'}
                onClick={() => void run('test', async () => setCheck(await transport.call('payments.test', { channel: name })))}
              >
                {t('payments.test')}
              </Button>
              <Button
                busy={busy === 'switch'}
                onClick={() =>
                  void run('switch', async () => {
                    await transport.call('payments.setEnabled', { channel: name, enabled: !listing.enabled });
                    toast.success(t(listing.enabled ? 'payments.switchedOff' : 'payments.switchedOn'));
                    await onChanged();
                  })
                }
              >
                {listing.enabled ? t('payments.switchOff') : t('payments.switchOn')}
              </Button>
              <Button variant="danger" onClick={() => setRemoving(true)}>
                {t('payments.remove')}
              </Button>
            </>
          ) : null}
        </div>
      </div>
      {listing ? (
        <div className="payments__notify">
          <span className="muted">{t('payments.notifyUrl')}</span> <code className="mono">{notifyUrl}</code>{' '}
          <Button
            onClick={() =>
              void copy(notifyUrl).then((ok) => (ok ? toast.success(t('payments.copied')) : toast.info(t('payments.copyByHand'))))
            }
          >
            {t('payments.copy')}
          </Button>
        </div>
      ) : null}
      {check ? (
        <ul className={`payments__check payments__check--${check.ok ? 'ok' : 'bad'}`} aria-label={t('payments.checkTitle')}>
          {check.checks.map((c) => (
            <li key={c.name}>
              <Badge tone={c.ok ? 'success' : 'danger'}>{c.ok ? t('payments.checkOk') : t('payments.checkBad')}</Badge>{' '}
              <span className="mono">{c.name}</span>: <span>{c.detail}</span>
            </li>
          ))}
        </ul>
      ) : null}
      {editing ? (
        <ChannelForm
          name={name}
          listing={listing}
          onSaved={async () => {
            setEditing(false);
            setCheck(null);
            await onChanged();
          }}
        />
      ) : null}
      <Confirm
        open={removing}
        danger
        title={t('payments.removeTitle', { channel: t(`payments.channel.${name}`) })}
        confirmLabel={t('payments.remove')}
        onCancel={() => setRemoving(false)}
        onConfirm={async () => {
          await transport.call('payments.remove', { channel: name });
          setRemoving(false);
          setCheck(null);
          toast.success(t('payments.removed'));
          await onChanged();
        }}
      >
        <p>{t('payments.removeBody')}</p>
      </Confirm>
    </li>
  );
}

function ChannelForm({
  name,
  listing,
  onSaved,
}: {
  name: ChannelName;
  listing: ChannelListing | undefined;
  onSaved: () => Promise<void>;
}) {
  const { t } = useTranslation('settings');
  const transport = useTransport();
  const [draft, setDraft] = useState<Draft>(() => draftOf(name, listing));
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const problems = touched ? problemsOf(name, draft, listing) : {};
  const update = (field: string, value: string | readonly string[]) => setDraft((d) => ({ ...d, [field]: value }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (Object.keys(problemsOf(name, draft, listing)).length > 0) return;
    setBusy(true);
    transport
      .call('payments.configure', { channel: name, settings: settingsOf(name, draft) })
      .then(async () => {
        toast.success(t('payments.saved'));
        await onSaved();
      })
      .catch((error: unknown) => toast.fromError(t, error))
      .finally(() => setBusy(false));
  };

  return (
    <form className="payments__form stack" onSubmit={submit} noValidate>
      <div className="settings-grid">
        {PAYMENT_FORMS[name]
          .filter((field) => visible(field, draft))
          .map((field) => (
            <FieldInput
              key={field.name}
              channel={name}
              field={field}
              value={draft[field.name] ?? ''}
              isSet={listing?.fields.includes(field.name) ?? false}
              error={problems[field.name]}
              onChange={(value) => update(field.name, value)}
            />
          ))}
      </div>
      <div className="row">
        <Button type="submit" variant="primary" busy={busy}>
          {t('actions.save', { ns: 'common' })}
        </Button>
      </div>
    </form>
  );
}

function FieldInput({
  channel,
  field,
  value,
  isSet,
  error,
  onChange,
}: {
  channel: ChannelName;
  field: FormField;
  value: string | readonly string[];
  isSet: boolean;
  error: string | undefined;
  onChange: (value: string | readonly string[]) => void;
}) {
  const { t } = useTranslation('settings');
  const label = t(`payments.field.${field.name}`);
  const secret = isSecret(channel, field.name);
  const hint = secret && isSet ? t('payments.secretSet') : secret ? t('payments.secretNew') : undefined;
  const text = typeof value === 'string' ? value : '';
  if (field.kind === 'methods') {
    const chosen = Array.isArray(value) ? (value as readonly string[]) : [];
    return (
      <fieldset className="choice payments__methods">
        <legend className="field__text">{label}</legend>
        {(field.options ?? []).map((option) => (
          <label key={option} className="choice__item">
            <input
              type="checkbox"
              checked={chosen.includes(option)}
              onChange={(event) => onChange(event.target.checked ? [...chosen, option] : chosen.filter((m) => m !== option))}
            />
            <span>{t(`payments.method.${option}`)}</span>
          </label>
        ))}
        {error ? (
          <p className="field__error" role="alert">
            {error}
          </p>
        ) : null}
      </fieldset>
    );
  }
  return (
    <Field
      label={label}
      hint={field.kind === 'methodList' ? t('payments.methodListHint') : hint}
      error={error}
      className={field.kind === 'pem' ? 'payments__pem' : undefined}
    >
      {field.kind === 'choice' ? (
        <Select
          value={text}
          onChange={(e) => onChange(e.target.value)}
          options={(field.options ?? []).map((o) => ({ value: o, label: o }))}
        />
      ) : field.kind === 'pem' ? (
        <Textarea
          rows={4}
          value={text}
          spellCheck={false}
          placeholder={secret && isSet ? t('payments.secretPlaceholder') : '-----BEGIN ... KEY-----'}
          onChange={(e) => onChange(e.target.value)}
        />
      ) : (
        <Input
          type={secret ? 'password' : 'text'}
          value={text}
          spellCheck={false}
          autoComplete={secret ? 'new-password' : 'off'}
          placeholder={secret && isSet ? t('payments.secretPlaceholder') : undefined}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </Field>
  );
}
