/**
 * The admin app's frame: sidebar navigation from PAGES, hash routing by page id, the header (title,
 * connection, language, theme) and the toasts. Pages render inside an error boundary each.
 */
import { useEffect } from 'react';
import { I18nextProvider, useTranslation } from 'react-i18next';
import { Button } from './components/Button';
import { EmptyState } from './components/EmptyState';
import { Toaster } from './components/Toast';
import { i18n } from './i18n';
import { PAGES } from './pages';
import type { PageDef } from './pages/types';
import { Header } from './shell/Header';
import { PageErrorBoundary } from './shell/PageErrorBoundary';
import { navigate, useRoute } from './shell/router';
import { Sidebar } from './shell/Sidebar';
import { TransportContext, type Transport } from './transport';

export interface AppProps {
  readonly transport: Transport;
  /** The pages to show; the registry by default (tests pass their own). */
  readonly pages?: readonly PageDef[];
}

function Main({ pages }: { pages: readonly PageDef[] }) {
  const { t } = useTranslation('common');
  const route = useRoute();
  const first = pages[0];
  const page = route.pageId === null ? first : pages.find((candidate) => candidate.id === route.pageId);

  useEffect(() => {
    if (page) document.title = `${t(page.titleKey)} · ${t('app.name')}`;
    else document.title = t('app.name');
  }, [page, t]);

  let content;
  if (pages.length === 0) {
    content = <EmptyState title={t('shell.noPages')} hint={t('shell.noPagesHint')} />;
  } else if (!page) {
    content = (
      <EmptyState
        title={t('shell.pageNotFound', { id: route.pageId })}
        action={
          first ? (
            <Button variant="primary" onClick={() => navigate(first.id)}>
              {t('shell.goHome')}
            </Button>
          ) : null
        }
      />
    );
  } else {
    const Page = page.component;
    content = (
      <PageErrorBoundary pageId={page.id}>
        <Page />
      </PageErrorBoundary>
    );
  }

  return (
    <div className="layout">
      <a
        className="skip-link"
        href="#content"
        onClick={(event) => {
          event.preventDefault();
          document.getElementById('content')?.focus();
        }}
      >
        {t('shell.skipToContent')}
      </a>
      <Sidebar pages={pages} currentId={page?.id ?? null} />
      <div className="layout__main">
        <Header title={page ? t(page.titleKey) : t('app.name')} />
        <main id="content" className="content" tabIndex={-1} data-page={page?.id}>
          {content}
        </main>
      </div>
      <Toaster />
    </div>
  );
}

export function App({ transport, pages = PAGES }: AppProps) {
  return (
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>
        <Main pages={pages} />
      </TransportContext.Provider>
    </I18nextProvider>
  );
}
