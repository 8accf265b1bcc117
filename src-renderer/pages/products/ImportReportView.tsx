/** An import preview: what would be stored, the duplicates (in the file, in the vault) and the skipped lines. */
import { useTranslation } from 'react-i18next';
import { formatCount } from '../dashboard/format';
import type { ImportOutcome } from './keys-api';

const SAMPLE_LINES = 8;

export function ImportReportView({ report }: { report: ImportOutcome }) {
  const { t, i18n } = useTranslation('products');
  const n = (value: number) => formatCount(value, i18n.language);
  const lines = (sample: readonly number[], count: number) =>
    sample.length === 0 ? null : (
      <span className="muted import__lines">
        {t('import.linesAt', {
          lines: sample.slice(0, SAMPLE_LINES).join(', ') + (count > Math.min(sample.length, SAMPLE_LINES) ? ', …' : ''),
        })}
      </span>
    );
  const duplicates = report.duplicatesInBatch + report.duplicatesInVault;
  const rows: { key: string; label: string; value: number; sample?: readonly number[]; tone?: string }[] = [
    { key: 'accepted', label: t('import.accepted'), value: report.accepted, tone: 'good' },
    {
      key: 'duplicatesInBatch',
      label: t('import.duplicatesInBatch'),
      value: report.duplicatesInBatch,
      sample: report.samples.duplicatesInBatch,
    },
    {
      key: 'duplicatesInVault',
      label: t('import.duplicatesInVault'),
      value: report.duplicatesInVault,
      sample: report.samples.duplicatesInVault,
    },
    { key: 'blank', label: t('import.blank'), value: report.blank, sample: report.samples.blank },
    { key: 'overLong', label: t('import.overLong'), value: report.overLong, sample: report.samples.overLong },
    { key: 'invalid', label: t('import.invalid'), value: report.invalid, sample: report.samples.invalid },
  ];
  return (
    <section className="import-report" aria-label={t('import.previewTitle')} data-testid="import-report">
      <header className="import-report__head">
        <h3>{t('import.previewTitle')}</h3>
        <span className="muted">
          {t('import.format')}: {report.format.toUpperCase()}
          {report.encoding ? ` · ${report.encoding.toUpperCase()}` : ''}
          {report.column
            ? ` · ${t('import.column')}: ${report.column.name ?? t('import.columnNumber', { number: report.column.index })}`
            : ''}
          {` · ${t('import.lines')}: ${n(report.lines)}`}
        </span>
      </header>
      <dl className="import-report__grid">
        {rows.map((row) => (
          <div
            key={row.key}
            className={`import-report__item${row.tone === 'good' ? ' import-report__item--good' : row.value > 0 ? ' import-report__item--warn' : ''}`}
            data-testid={`report-${row.key}`}
          >
            <dt>{row.label}</dt>
            <dd>
              <strong className="num">{n(row.value)}</strong>
              {row.sample ? lines(row.sample, row.value) : null}
            </dd>
          </div>
        ))}
      </dl>
      {duplicates > 0 ? (
        <p className="muted">
          {t('import.duplicates')}: {n(duplicates)}
        </p>
      ) : null}
      {report.accepted === 0 ? (
        <p className="field__error" role="alert">
          {t('import.nothingNew')}
        </p>
      ) : null}
      {report.rejected.length > 0 ? (
        <details className="import-report__rejected">
          <summary>{t('import.rejected')}</summary>
          <ul>
            {report.rejected.slice(0, 50).map((item) => (
              <li key={item.line}>{t('import.line', { line: item.line, reason: item.reason })}</li>
            ))}
          </ul>
        </details>
      ) : null}
      {report.imported === 0 ? <p className="muted">{t('import.previewHint')}</p> : null}
    </section>
  );
}
