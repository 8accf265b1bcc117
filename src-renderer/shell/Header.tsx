/** The top bar: the page title, the connection badge, and the language and theme switches. */
import { useTranslation } from 'react-i18next';
import { LANGUAGE_NAMES, LANGUAGES, isLanguage } from '../i18n';
import { ConnectionStatus } from './ConnectionStatus';
import { THEMES, usePreferences, type Theme } from './preferences';

const THEME_KEYS: Readonly<Record<Theme, string>> = {
  light: 'shell.themeLight',
  dark: 'shell.themeDark',
  system: 'shell.themeSystem',
};

export function Header({ title }: { title: string }) {
  const { t } = useTranslation('common');
  const language = usePreferences((state) => state.language);
  const theme = usePreferences((state) => state.theme);
  const setLanguage = usePreferences((state) => state.setLanguage);
  const setTheme = usePreferences((state) => state.setTheme);
  return (
    <header className="topbar">
      <h1 className="topbar__title">{title}</h1>
      <div className="topbar__tools">
        <ConnectionStatus />
        <label className="compact-select">
          <span className="visually-hidden">{t('shell.language')}</span>
          <select
            value={language}
            onChange={(event) => {
              if (isLanguage(event.target.value)) void setLanguage(event.target.value);
            }}
            data-testid="language-select"
          >
            {LANGUAGES.map((code) => (
              <option key={code} value={code} lang={code}>
                {LANGUAGE_NAMES[code]}
              </option>
            ))}
          </select>
        </label>
        <label className="compact-select">
          <span className="visually-hidden">{t('shell.theme')}</span>
          <select value={theme} onChange={(event) => setTheme(event.target.value as Theme)} data-testid="theme-select">
            {THEMES.map((value) => (
              <option key={value} value={value}>
                {t(THEME_KEYS[value])}
              </option>
            ))}
          </select>
        </label>
      </div>
    </header>
  );
}
