/**
 * The viewer's preferences that the whole shell follows: language and theme (light, dark or the
 * system's). Kept in localStorage, so they survive a restart; the Settings page and the header both
 * change them through this store.
 */
import { create } from 'zustand';
import { currentLanguage, i18n, isLanguage, setLanguage as switchLanguage, type Language } from '../i18n';

export const THEMES = ['light', 'dark', 'system'] as const;
export type Theme = (typeof THEMES)[number];

const THEME_KEY = 'oncekey.theme';

function storedTheme(): Theme {
  try {
    const value = globalThis.localStorage?.getItem(THEME_KEY);
    return (THEMES as readonly (string | null | undefined)[]).includes(value) ? (value as Theme) : 'system';
  } catch {
    return 'system';
  }
}

function systemPrefersDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

/** Puts the resolved theme on <html data-theme>, which styles.css reads. */
export function applyTheme(theme: Theme): void {
  if (typeof document === 'undefined') return;
  const dark = theme === 'dark' || (theme === 'system' && systemPrefersDark());
  document.documentElement.dataset.theme = dark ? 'dark' : 'light';
  document.documentElement.style.colorScheme = dark ? 'dark' : 'light';
}

export interface PreferencesState {
  readonly language: Language;
  readonly theme: Theme;
  readonly setLanguage: (language: Language) => Promise<void>;
  readonly setTheme: (theme: Theme) => void;
}

export const usePreferences = create<PreferencesState>()((set) => ({
  language: currentLanguage(),
  theme: storedTheme(),
  async setLanguage(language) {
    await switchLanguage(language);
    set({ language });
  },
  setTheme(theme) {
    try {
      globalThis.localStorage?.setItem(THEME_KEY, theme);
    } catch {
      // applied, not remembered
    }
    applyTheme(theme);
    set({ theme });
  },
}));

// Whoever switches the language (this store, a test, a page calling i18n directly), the store follows.
i18n.on('languageChanged', (language: string) => {
  if (isLanguage(language) && usePreferences.getState().language !== language) usePreferences.setState({ language });
});

/** Applies the saved theme now and follows the system's changes while the theme is `system`. */
export function watchSystemTheme(): () => void {
  applyTheme(usePreferences.getState().theme);
  if (typeof matchMedia !== 'function') return () => undefined;
  const query = matchMedia('(prefers-color-scheme: dark)');
  const onChange = (): void => {
    if (usePreferences.getState().theme === 'system') applyTheme('system');
  };
  query.addEventListener('change', onChange);
  return () => query.removeEventListener('change', onChange);
}
