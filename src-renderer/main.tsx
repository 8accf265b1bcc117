/** The renderer's entry: picks the transport, applies language and theme, and mounts the App. */
// First: configures zod before any schema module is evaluated.
import './zod-setup';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import './i18n';
import { watchSystemTheme } from './shell/preferences';
import './styles.css';
import { createTransport } from './transport';

// Browser mode's login link carries a one-time token; the server already swapped it for a session
// cookie and redirected, but never leave one in the address bar or the history if it got here.
if (new URLSearchParams(window.location.search).has('token')) {
  window.history.replaceState(null, '', `${window.location.pathname}${window.location.hash}`);
}

watchSystemTheme();
const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App transport={createTransport()} />
  </StrictMode>,
);
