/** A small busy indicator; announced as "Loading…" unless it sits inside something already announcing. */
import { useTranslation } from 'react-i18next';

export function Spinner({
  size = 'md',
  label,
  decorative = false,
}: {
  size?: 'sm' | 'md' | 'lg';
  label?: string;
  decorative?: boolean;
}) {
  const { t } = useTranslation('common');
  if (decorative) return <span className={`spinner spinner--${size}`} aria-hidden="true" />;
  return (
    <span className="spinner-wrap" role="status">
      <span className={`spinner spinner--${size}`} aria-hidden="true" />
      <span className="visually-hidden">{label ?? t('states.loading')}</span>
    </span>
  );
}
