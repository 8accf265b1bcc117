/**
 * The Settings page, grouped: the shop endpoint and order rules (stored with the shop), the payment
 * channels, tokens and secrets, the vault passphrase, backup and restore (a PostgreSQL shop: a note that
 * pg_dump backs it up), the data folder and the database the shop runs on, and this computer's language
 * and theme.
 */
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { Button, Card, describeError, EmptyState, Field, Select, Spinner } from '../../components';
import { LANGUAGE_NAMES, LANGUAGES, type Language } from '../../i18n';
import { THEMES, usePreferences, type Theme } from '../../shell/preferences';
import { useTransport } from '../../transport';
import { BackupCard, PostgresBackupCard } from './BackupCard';
import { PaymentsCard } from './PaymentsCard';
import { SecretsCard, VaultCard } from './SecurityCards';
import './settings.css';
import { ShopForm } from './ShopForm';
import { useSettings } from './store';

const THEME_KEYS: Record<Theme, string> = { light: 'shell.themeLight', dark: 'shell.themeDark', system: 'shell.themeSystem' };

function AppearanceCard() {
  const { t } = useTranslation('settings');
  const { language, theme, setLanguage, setTheme } = usePreferences();
  return (
    <Card title={t('appearance.title')} subtitle={t('appearance.subtitle')}>
      <div className="settings-grid">
        <Field label={t('appearance.language')}>
          <Select
            value={language}
            onChange={(e) => void setLanguage(e.target.value as Language)}
            options={LANGUAGES.map((lang) => ({ value: lang, label: LANGUAGE_NAMES[lang] }))}
          />
        </Field>
        <Field label={t('appearance.theme')}>
          <Select
            value={theme}
            onChange={(e) => setTheme(e.target.value as Theme)}
            options={THEMES.map((th) => ({ value: th, label: t(THEME_KEYS[th], { ns: 'common' }) }))}
          />
        </Field>
      </div>
    </Card>
  );
}

export function SettingsPage() {
  const { t } = useTranslation('settings');
  const transport = useTransport();
  const settings = useSettings((s) => s.settings);
  const status = useSettings((s) => s.status);
  const error = useSettings((s) => s.error);
  const load = useSettings((s) => s.load);

  useEffect(() => {
    void load(transport);
  }, [load, transport]);

  if (status === 'error' && !settings) {
    return (
      <EmptyState
        title={t('loadFailed')}
        hint={describeError(t, error)}
        action={<Button onClick={() => void load(transport)}>{t('actions.retry', { ns: 'common' })}</Button>}
      />
    );
  }
  if (!settings) return <Spinner size="lg" />;
  const postgres = settings.backend.kind === 'postgres';
  return (
    <div className="settings">
      <div className="settings__column">
        <ShopForm settings={settings} />
        <PaymentsCard />
        <AppearanceCard />
      </div>
      <div className="settings__column">
        <SecretsCard settings={settings} />
        <VaultCard settings={settings} />
        {postgres ? <PostgresBackupCard /> : <BackupCard settings={settings} />}
        <Card title={t('data.title')} subtitle={t(postgres ? 'data.subtitlePostgres' : 'data.subtitle')}>
          <code className="mono settings-path">{settings.dataDir}</code>
          <p className="settings-backend">{t('data.backend')}</p>
          <code className="mono settings-path">
            {t(postgres ? 'data.postgres' : 'data.sqlite', { location: settings.backend.location })}
          </code>
        </Card>
      </div>
    </div>
  );
}
