/**
 * Importing a payment statement: pick the file and its format (or let the header decide), optionally the
 * shop's time zone and the bill's days when it does not say, then compare. The answer names the period
 * the bill was held to and which rule set it.
 */
import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { STATEMENT_FORMATS, type StatementFormat } from '../../../shared/reconcile';
import { Button, Card, describeError, Field, Input, Select } from '../../components';
import { formatTime } from '../dashboard/format';
import { useTransport } from '../../transport';
import { useReconcile } from './store';

export function StatementImport() {
  const { t, i18n } = useTranslation('reconcile');
  const transport = useTransport();
  const { importStatement, lastImport, statements } = useReconcile();
  const fileRef = useRef<HTMLInputElement>(null);
  const [format, setFormat] = useState<StatementFormat | ''>('');
  const [timeZone, setTimeZone] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
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
        {
          ...(timeZone.trim() ? { timeZone: timeZone.trim() } : {}),
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
        },
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
        <Field label={t('statement.timeZone')} hint={t('statement.timeZoneHint')}>
          <Input value={timeZone} onChange={(e) => setTimeZone(e.target.value)} placeholder="Asia/Shanghai" spellCheck={false} />
        </Field>
        <Field label={t('statement.from')}>
          <Input type="date" value={from} onChange={(e) => setFrom(e.target.value)} />
        </Field>
        <Field label={t('statement.to')}>
          <Input type="date" value={to} onChange={(e) => setTo(e.target.value)} />
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
          {lastImport.periodStart && lastImport.periodEnd && lastImport.periodRule ? (
            <>
              {' '}
              {t('statement.period', {
                start: formatTime(lastImport.periodStart, i18n.language),
                end: formatTime(lastImport.periodEnd, i18n.language),
                rule: t(`statement.rule.${lastImport.periodRule}`),
              })}
            </>
          ) : null}
        </p>
      ) : null}
      {statements.length > 0 ? <p className="muted">{t('statement.list', { count: statements.length })}</p> : null}
    </Card>
  );
}
