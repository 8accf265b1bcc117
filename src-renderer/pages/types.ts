/**
 * A page of the admin app. Each page lives in src-renderer/pages/<id>/ with its component, its zustand
 * store(s) and its strings (an i18n namespace named after the page id, see src-renderer/i18n), and is
 * listed once in pages/index.ts, which the navigation and the router read.
 */
import type { ComponentType } from 'react';

export interface PageDef {
  /** URL hash and i18n namespace: `dashboard`, `products`, `orders`, `ledger`, `reconcile`, `simulator`, `settings`. */
  readonly id: string;
  /** Key of the page title in the `common` namespace (`nav.<id>`). */
  readonly titleKey: string;
  readonly component: ComponentType;
}

/** An i18n namespace: the same keys in both languages (a test checks it). Nested objects are allowed. */
export interface Strings {
  readonly en: Readonly<Record<string, unknown>>;
  readonly 'zh-CN': Readonly<Record<string, unknown>>;
}
