/** The left navigation: one link per registered page, the current one marked for screen readers too. */
import { useTranslation } from 'react-i18next';
import type { PageDef } from '../pages/types';
import { hrefOf } from './router';

export function Sidebar({ pages, currentId }: { pages: readonly PageDef[]; currentId: string | null }) {
  const { t } = useTranslation('common');
  return (
    <aside className="sidebar">
      <div className="sidebar__inner">
        <div className="brand">
          <svg className="brand__logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
            <rect x="2" y="2" width="28" height="28" rx="8" fill="var(--accent)" />
            <path
              d="M10 16.5l4 4 8-9"
              fill="none"
              stroke="var(--accent-contrast)"
              strokeWidth="3"
              strokeLinecap="round"
              strokeLinejoin="round"
            />
          </svg>
          <div>
            <div className="brand__name">{t('app.name')}</div>
            <div className="brand__tagline">{t('app.tagline')}</div>
          </div>
        </div>
        <nav aria-label={t('nav.label')}>
          <ul className="nav">
            {pages.map((page) => (
              <li key={page.id}>
                <a className="nav__link" href={hrefOf(page.id)} aria-current={page.id === currentId ? 'page' : undefined}>
                  {t(page.titleKey)}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </div>
    </aside>
  );
}
