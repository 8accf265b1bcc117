/**
 * Import codes into a product: paste them or choose a .txt/.csv file, pick the encoding (detected, with
 * an override) and the CSV column, preview what would be stored (new codes, duplicates in the file and
 * in the vault, skipped lines), then import with a progress bar. An import stores
 * every accepted code or none.
 */
import { useEffect, useId, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { DashboardProduct } from '../../../shared/rpc/dashboard';
import { Button, describeError, Dialog, Field, Select, toast } from '../../components';
import { useLive } from '../../hooks/useLive';
import { useTransport } from '../../transport';
import { formatCount } from '../dashboard/format';
import { fileHeader, formatBytes, headerCells, isCsvName, looksLikeCsv, MAX_UPLOAD_BYTES } from './import-source';
import { UploadTooLarge, useImport } from './import-store';
import type { ImportEncodingChoice } from './keys-api';
import { ImportReportView } from './ImportReportView';

export function ImportDialog({ product, onClose }: { product: DashboardProduct; onClose: () => void }) {
  const { t, i18n } = useTranslation('products');
  const lang = i18n.language;
  const transport = useTransport();
  const s = useImport();
  const [header, setHeader] = useState<string[]>([]);
  const fileInputId = useId();

  useEffect(() => () => useImport.getState().reset(), []);

  useLive(
    (event) => {
      if (event.type === 'import' && event.productId === product.id) useImport.getState().onProgress(event.done, event.total);
    },
    ['import'],
  );

  const isCsv = s.mode === 'file' ? s.file !== null && isCsvName(s.file.name) : looksLikeCsv(s.text);
  useEffect(() => {
    let live = true;
    if (!isCsv) setHeader([]);
    else if (s.mode === 'paste') setHeader(headerCells(s.text));
    else if (s.file) {
      fileHeader(s.file, s.encoding).then(
        (cells) => live && setHeader(cells),
        () => live && setHeader([]),
      );
    }
    return () => {
      live = false;
    };
  }, [isCsv, s.mode, s.text, s.file, s.encoding]);

  // A new encoding or column after a preview: preview again.
  const { encoding, column } = s;
  useEffect(() => {
    if (useImport.getState().step === 'preview') void useImport.getState().preview(transport, product.id);
  }, [encoding, column, transport, product.id]);

  const importing = s.step === 'importing';
  const hasSource = s.mode === 'paste' ? s.text.trim() !== '' : s.file !== null;
  const tooBig = s.mode === 'file' && s.file !== null && s.file.size > MAX_UPLOAD_BYTES;

  async function startImport() {
    const report = await useImport.getState().start(transport, product.id);
    if (report) {
      toast.success(t('import.done', { formatted: formatCount(report.imported, lang), name: product.name }));
      onClose();
    }
  }

  const errorText =
    s.error instanceof UploadTooLarge
      ? t('import.tooBig', { max: formatBytes(s.error.max, lang) })
      : s.error
        ? describeError(t, s.error)
        : null;
  const detected = s.report?.encoding ?? null;
  const encodingOptions = [
    {
      value: '',
      label:
        detected && s.encoding === null ? `${t('import.encodingAuto')} (${detected.toUpperCase()})` : t('import.encodingAuto'),
    },
    { value: 'utf-8', label: 'UTF-8' },
    { value: 'gbk', label: 'GBK / GB18030' },
  ];
  const columnOptions = [
    { value: '', label: t('import.columnAuto') },
    ...header.map((cell, index) => ({
      value: String(index + 1),
      label: cell ? `${index + 1}: ${cell}` : t('import.columnNumber', { number: index + 1 }),
    })),
  ];

  const footer = importing ? (
    <span className="muted">{t('import.importing')}</span>
  ) : (
    <>
      <Button onClick={onClose}>{t('actions.cancel', { ns: 'common' })}</Button>
      {s.step === 'preview' && s.report ? (
        <Button variant="primary" onClick={() => void startImport()} disabled={s.report.accepted === 0}>
          {t('import.import', { formatted: formatCount(s.report.accepted, lang) })}
        </Button>
      ) : (
        <Button
          variant="primary"
          onClick={() => void s.preview(transport, product.id)}
          disabled={!hasSource || tooBig}
          busy={s.step === 'previewing'}
        >
          {s.step === 'previewing' ? t('import.previewing') : t('import.preview')}
        </Button>
      )}
    </>
  );

  const done = s.progress?.done ?? 0;
  // 0: the file's line count is not known (yet).
  const total = s.progress?.total ?? 0;
  // Every line read: what is left is one step without progress (the commit, or the preview's repeat check).
  const lastStep = total > 0 && done >= total;
  const percent = total > 0 && !lastStep ? Math.min(100, Math.round((done / total) * 100)) : null;
  const progressLine = lastStep
    ? t(importing ? 'import.storing' : 'import.checking', { total: formatCount(total, lang) })
    : total > 0
      ? t('import.progress', { done: formatCount(done, lang), total: formatCount(total, lang) })
      : t('import.progressUnknown', { done: formatCount(done, lang) });

  return (
    <Dialog open size="lg" title={t('import.title', { name: product.name })} onClose={onClose} locked={importing} footer={footer}>
      <div className="import">
        <fieldset className="import__source" disabled={importing}>
          <legend className="field__text">{t('import.sourceLabel')}</legend>
          <div className="segmented" role="radiogroup" aria-label={t('import.sourceLabel')}>
            {(['paste', 'file'] as const).map((mode) => (
              <label key={mode} className={s.mode === mode ? 'segmented__item segmented__item--on' : 'segmented__item'}>
                <input
                  type="radio"
                  name="import-mode"
                  value={mode}
                  checked={s.mode === mode}
                  onChange={() => s.setMode(mode)}
                  data-autofocus={s.mode === mode ? true : undefined}
                />
                {t(`import.${mode}`)}
              </label>
            ))}
          </div>
          {s.mode === 'paste' ? (
            <label className="field">
              <span className="field__text">{t('import.pasteLabel')}</span>
              <textarea
                className="input import__text"
                rows={8}
                value={s.text}
                placeholder={t('import.pastePlaceholder')}
                onChange={(e) => s.setText(e.target.value)}
                spellCheck={false}
              />
            </label>
          ) : (
            <div className="field">
              <span className="field__text">{t('import.chooseFile')}</span>
              <div className="row">
                <input
                  id={fileInputId}
                  className="import__file visually-hidden"
                  type="file"
                  accept=".txt,.csv,.tsv,text/plain,text/csv"
                  aria-label={t('import.chooseFile')}
                  onChange={(e) => s.setFile(e.target.files?.[0] ?? null)}
                />
                <label htmlFor={fileInputId} className="btn btn--secondary import__file-button">
                  {t('import.browse')}
                </label>
                <span className={s.file ? 'import__file-name' : 'muted'}>
                  {s.file
                    ? t('import.fileChosen', { name: s.file.name, size: formatBytes(s.file.size, lang) })
                    : t('import.noFile')}
                </span>
              </div>
              {tooBig ? (
                <p className="field__error" role="alert">
                  {t('import.tooBig', { max: formatBytes(MAX_UPLOAD_BYTES, lang) })}
                </p>
              ) : null}
            </div>
          )}
          <div className="import__options">
            <Field
              label={t('import.encoding')}
              hint={detected ? t('import.encodingDetected', { encoding: detected.toUpperCase() }) : undefined}
            >
              <Select
                value={s.encoding ?? ''}
                onChange={(e) => s.setEncoding((e.target.value || null) as ImportEncodingChoice | null)}
                options={encodingOptions}
              />
            </Field>
            {isCsv ? (
              <Field label={t('import.column')} hint={t('import.columnHint')}>
                <Select
                  value={s.column === null ? '' : String(s.column)}
                  onChange={(e) => s.setColumn(e.target.value ? Number(e.target.value) : null)}
                  options={columnOptions}
                />
              </Field>
            ) : null}
          </div>
        </fieldset>
        {errorText ? (
          <p className="field__error" role="alert">
            {errorText}
          </p>
        ) : null}
        {s.report && (s.step === 'preview' || importing) ? <ImportReportView report={s.report} /> : null}
        {importing || (s.step === 'previewing' && s.progress) ? (
          <div className="import__progress">
            <div
              className="progress"
              role="progressbar"
              aria-label={importing ? t('import.importing') : t('import.previewing')}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={percent ?? undefined}
            >
              <div
                className={percent === null ? 'progress__bar progress__bar--indeterminate' : 'progress__bar'}
                style={percent === null ? undefined : { width: `${percent}%` }}
              />
            </div>
            <p className="muted" aria-live="polite">
              {progressLine}
            </p>
          </div>
        ) : null}
      </div>
    </Dialog>
  );
}
