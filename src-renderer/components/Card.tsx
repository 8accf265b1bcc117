/** A titled panel: the unit every page lays out. `actions` sit at the right of the title. */
import { useId, type ReactNode } from 'react';

export interface CardProps {
  readonly title?: ReactNode;
  readonly subtitle?: ReactNode;
  readonly actions?: ReactNode;
  readonly children?: ReactNode;
  readonly className?: string;
  /** No inner padding (a table that runs to the edges). */
  readonly flush?: boolean;
}

export function Card({ title, subtitle, actions, children, className, flush = false }: CardProps) {
  const headingId = useId();
  return (
    <section
      className={['card', flush ? 'card--flush' : '', className ?? ''].filter(Boolean).join(' ')}
      aria-labelledby={title ? headingId : undefined}
    >
      {(title ?? actions) ? (
        <header className="card__header">
          <div>
            {title ? (
              <h2 className="card__title" id={headingId}>
                {title}
              </h2>
            ) : null}
            {subtitle ? <p className="card__subtitle">{subtitle}</p> : null}
          </div>
          {actions ? <div className="card__actions">{actions}</div> : null}
        </header>
      ) : null}
      <div className="card__body">{children}</div>
    </section>
  );
}
