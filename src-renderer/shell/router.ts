/**
 * Hash routing: `#/<page id>[/<rest>]` (e.g. `#/orders/ord_123`). The hash keeps browser mode and the
 * desktop window (a file:// page) on the same URLs, and needs no server routes.
 */
import { useSyncExternalStore } from 'react';

export interface Route {
  readonly pageId: string | null;
  /** What follows the page id, without the leading slash ('' when nothing). */
  readonly rest: string;
}

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  if (path === '') return { pageId: null, rest: '' };
  const [first = '', ...more] = path.split('/');
  return { pageId: decodeURIComponent(first), rest: more.join('/') };
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

/** The current route; re-renders on every hash change. */
export function useRoute(): Route {
  const hash = useSyncExternalStore(
    subscribe,
    () => window.location.hash,
    () => '',
  );
  return parseHash(hash);
}

/** Goes to `#/<pageId>[/<rest>]`. */
export function navigate(pageId: string, rest = ''): void {
  window.location.hash = `#/${encodeURIComponent(pageId)}${rest ? `/${rest}` : ''}`;
}

/** The href for a page link. */
export function hrefOf(pageId: string, rest = ''): string {
  return `#/${encodeURIComponent(pageId)}${rest ? `/${rest}` : ''}`;
}
