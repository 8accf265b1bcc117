/**
 * i18next for the admin app: English and Simplified Chinese, one namespace per page plus `common`.
 * Every catalogue is bundled (no loading step), so the first render is already translated. The language
 * is kept in localStorage; the first visit follows the system (navigator) language.
 *
 * A page registers its namespace by adding one line to NAMESPACES below (`<id>: <id>Strings,`).
 */
import i18next, { type i18n as I18n } from 'i18next';
import { initReactI18next } from 'react-i18next';
import type { Strings } from '../pages/types';
import { dashboardStrings } from '../pages/dashboard/strings';
import { ledgerStrings } from '../pages/ledger/strings';
import { ordersStrings } from '../pages/orders/strings';
import { productsStrings } from '../pages/products/strings';
import { reconcileStrings } from '../pages/reconcile/strings';
import { settingsStrings } from '../pages/settings/strings';
import { simulatorStrings } from '../pages/simulator/strings';
import { commonStrings } from './common';

export const LANGUAGES = ['en', 'zh-CN'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Every namespace and its catalogues. Pages: add `<page id>: <page>Strings,` here. */
export const NAMESPACES: Readonly<Record<string, Strings>> = {
  common: commonStrings,
  dashboard: dashboardStrings,
  products: productsStrings,
  orders: ordersStrings,
  ledger: ledgerStrings,
  settings: settingsStrings,
  reconcile: reconcileStrings,
  simulator: simulatorStrings,
};

/** The name of each language in itself, for the switcher. */
export const LANGUAGE_NAMES: Readonly<Record<Language, string>> = { en: 'English', 'zh-CN': '简体中文' };

const STORAGE_KEY = 'oncekey.language';

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

function readStored(): string | null {
  try {
    return globalThis.localStorage?.getItem(STORAGE_KEY) ?? null;
  } catch {
    return null; // storage disabled: follow the system every time
  }
}

/** The saved choice, else zh-CN for any Chinese system language, else English. */
export function initialLanguage(): Language {
  const stored = readStored();
  if (isLanguage(stored)) return stored;
  const system = globalThis.navigator?.languages?.[0] ?? globalThis.navigator?.language ?? 'en';
  return system.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

function buildResources(): Record<Language, Record<string, Readonly<Record<string, unknown>>>> {
  const resources: Record<Language, Record<string, Readonly<Record<string, unknown>>>> = { en: {}, 'zh-CN': {} };
  for (const [ns, strings] of Object.entries(NAMESPACES)) {
    resources.en[ns] = strings.en;
    resources['zh-CN'][ns] = strings['zh-CN'];
  }
  return resources;
}

function applyToDocument(language: Language): void {
  if (typeof document !== 'undefined') document.documentElement.lang = language;
}

/** The app's i18next instance, ready (synchronously) once this module is imported. */
export const i18n: I18n = i18next.createInstance();
void i18n.use(initReactI18next).init({
  resources: buildResources(),
  lng: initialLanguage(),
  fallbackLng: 'en',
  supportedLngs: [...LANGUAGES],
  load: 'currentOnly',
  ns: Object.keys(NAMESPACES),
  defaultNS: 'common',
  initAsync: false,
  interpolation: { escapeValue: false }, // React escapes
  react: { useSuspense: false },
});
applyToDocument(i18n.language as Language);

/** Switches the language everywhere and remembers it. */
export async function setLanguage(language: Language): Promise<void> {
  try {
    globalThis.localStorage?.setItem(STORAGE_KEY, language);
  } catch {
    // not remembered, still switched
  }
  await i18n.changeLanguage(language);
  applyToDocument(language);
}

export function currentLanguage(): Language {
  return isLanguage(i18n.language) ? i18n.language : 'en';
}
