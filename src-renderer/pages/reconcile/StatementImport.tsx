/** Importing a payment statement: pick the file and its format (or let the header decide), then compare. */
import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { STATEMENT_FORMATS, type StatementFormat } from '../../../shared/reconcile';
import { Button, Card, describeError, Field, Select } from '../../components';
import { useTransport } from '../../transport';
import { useReconcile } from './store';

export function StatementImport() {
  const { t } = useTranslation('reconcile');
  const transport = useTransport();
  const { importStatement, lastImport, statements } = useReconcile();
  const fileRef = useRef<HTMLInputElement>(null);
  const [format, setFormat] = useState<StatementFormat | ''>('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async () => {
    const file = fileRef.current?.files?.[0];
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      await importStatement(
        transport,
        { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) },
        format === '' ? null : format,
      );
      if (fileRef.current) fileRef.current.value = '';
    } catch (caught) {
      setError(describeError(t, caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title={t('statement.title')} subtitle={t('statement.hint')}>
      <div className="rc-import">
        <Field label={t('statement.file')}>
          <input ref={fileRef} type="file" accept=".csv,.txt,.zip,text/csv" className="input" data-testid="statement-file" />
        </Field>
        <Field label={t('statement.format')}>
          <Select
            value={format}
            onChange={(e) => setFormat(e.target.value as StatementFormat | '')}
            options={[
              { value: '', label: t('statement.auto') },
              ...STATEMENT_FORMATS.map((f) => ({ value: f, label: t(`statement.${f}`) })),
            ]}
          />
        </Field>
        <Button variant="primary" busy={busy} onClick={() => void submit()}>
          {busy ? t('statement.importing') : t('statement.import')}
        </Button>
      </div>
      {error ? (
        <p className="field__error" role="alert">
          {error}
        </p>
      ) : null}
      {lastImport ? (
        <p className="rc-import__done" role="status">
          {lastImport.imported === 0
            ? t('statement.nothingNew')
            : t('statement.imported', {
                count: lastImport.imported,
                source: lastImport.source,
                duplicates: lastImport.duplicates,
                skipped: lastImport.skipped,
              })}
        </p>
      ) : null}
      {statements.length > 0 ? <p className="muted">{t('statement.list', { count: statements.length })}</p> : null}
    </Card>
  );
}
