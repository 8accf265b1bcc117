/**
 * The selected product's keys, virtualised: a fixed row height, only the rows in view are in the DOM,
 * and pages of rows are fetched from `keys.list` as the table scrolls, so a million keys scroll as
 * smoothly as ten. Codes are masked; revealing or copying one goes through `keys.reveal`, which writes
 * the audit trail. A status filter narrows the list.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { DashboardProduct } from '../../../shared/rpc/dashboard';
import { Badge, type BadgeTone, Button, Card, describeError, EmptyState, Field, Select, toast } from '../../components';
import { useTransport } from '../../transport';
import { formatCount, formatTime } from '../dashboard/format';
import { useDebouncedLive } from '../dashboard/live';
import { KEY_STATUSES, type KeyRow, type KeyStatus, revealKey } from './keys-api';
import { useKeys } from './keys-store';

export const ROW_HEIGHT = 32;
const VIEW_ROWS = 14;
/** Wait this long after scrolling stops moving the range before fetching (a fast drag skips pages). */
const FETCH_DELAY_MS = 60;

const TONES: Record<string, BadgeTone> = {
  available: 'success',
  reserved: 'warning',
  sold: 'info',
  burned: 'danger',
  staged: 'neutral',
};

export function KeyTable({ product, onImport }: { product: DashboardProduct; onImport: () => void }) {
  const { t, i18n } = useTranslation('products');
  const lang = i18n.language;
  const transport = useTransport();
  const { total, error, revealed, open, ensure, refresh, setRevealed, rowAt } = useKeys();
  useKeys((s) => s.pages); // re-render when pages arrive
  const [status, setStatus] = useState<KeyStatus | null>(null);
  const [busyKey, setBusyKey] = useState<number | null>(null);
  const scroller = useRef<HTMLDivElement>(null);

  useEffect(() => {
    void open(transport, product.id, status);
  }, [open, transport, product.id, status]);

  const virtualizer = useVirtualizer({
    count: total ?? 0,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    initialRect: { width: 800, height: ROW_HEIGHT * VIEW_ROWS },
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0]?.index ?? 0;
  const last = items[items.length - 1]?.index ?? 0;

  useEffect(() => {
    if (total === null || total === 0) return;
    const timer = setTimeout(() => void ensure(transport, first, last), FETCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [ensure, transport, first, last, total]);

  useDebouncedLive(['stock', 'order', 'import'], (events) => {
    if (events.some((event) => 'productId' in event && event.productId === product.id)) void refresh(transport, first, last);
  });

  async function reveal(row: KeyRow, purpose: 'reveal' | 'copy') {
    setBusyKey(row.id);
    try {
      const code = await revealKey(transport, row.id, purpose);
      if (purpose === 'reveal') {
        setRevealed(row.id, code);
        return;
      }
      try {
        await navigator.clipboard.writeText(code);
        toast.success(t('keys.copied', { id: row.id }));
      } catch {
        setRevealed(row.id, code);
        toast.info(t('keys.copyFailed'));
      }
    } catch (failure) {
      toast.fromError(t, failure);
    } finally {
      setBusyKey(null);
    }
  }

  const filter = (
    <Field label={t('keys.filter')} className="keys-filter">
      <Select
        value={status ?? ''}
        onChange={(event) => setStatus((event.target.value || null) as KeyStatus | null)}
        options={[
          { value: '', label: t('keys.all') },
          ...KEY_STATUSES.map((s) => ({ value: s, label: t(`keys.statuses.${s}`) })),
        ]}
      />
    </Field>
  );

  let body;
  if (error && total === null) {
    body = (
      <p className="field__error" role="alert">
        {describeError(t, error)}
      </p>
    );
  } else if (total === 0) {
    body = (
      <EmptyState
        title={status ? t('keys.noneFiltered') : t('keys.none')}
        hint={status ? undefined : t('keys.importFirst')}
        action={
          status ? undefined : (
            <Button variant="primary" onClick={onImport}>
              {t('list.import')}
            </Button>
          )
        }
      />
    );
  } else {
    body = (
      <div className="keys" role="table" aria-label={t('keys.caption')} aria-rowcount={(total ?? 0) + 1}>
        <div className="keys__row keys__row--head" role="row" aria-rowindex={1}>
          <span role="columnheader">{t('keys.id')}</span>
          <span role="columnheader">{t('keys.code')}</span>
          <span role="columnheader">{t('keys.status')}</span>
          <span role="columnheader">{t('keys.order')}</span>
          <span role="columnheader">{t('keys.imported')}</span>
          <span role="columnheader" className="visually-hidden">
            {t('keys.actions')}
          </span>
        </div>
        <div
          ref={scroller}
          className="keys__scroll"
          style={{ height: ROW_HEIGHT * VIEW_ROWS }}
          tabIndex={0}
          data-testid="key-scroller"
        >
          <div role="rowgroup" style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {items.map((item) => {
              const row = rowAt(item.index);
              const style = { height: ROW_HEIGHT, transform: `translateY(${item.start}px)` };
              if (!row) {
                return (
                  <div
                    key={item.key}
                    className="keys__row keys__row--loading"
                    role="row"
                    aria-rowindex={item.index + 2}
                    style={style}
                  >
                    <span role="cell" className="keys__skeleton">
                      <span className="visually-hidden">{t('keys.loadingRow')}</span>
                    </span>
                  </div>
                );
              }
              const code = revealed.get(row.id);
              return (
                <div
                  key={item.key}
                  className="keys__row"
                  role="row"
                  aria-rowindex={item.index + 2}
                  style={style}
                  data-key-id={row.id}
                >
                  <span role="cell" className="num muted">
                    {row.id}
                  </span>
                  <span role="cell" className={code ? 'mono keys__code keys__code--shown' : 'mono keys__code'}>
                    {code ?? row.masked}
                  </span>
                  <span role="cell">
                    <Badge tone={TONES[row.status] ?? 'neutral'}>
                      {t(`keys.statuses.${row.status}`, { defaultValue: row.status })}
                    </Badge>
                  </span>
                  <span role="cell" className="mono keys__order">
                    {row.orderId ?? ''}
                  </span>
                  <span role="cell" className="muted">
                    {row.importedAt ? formatTime(row.importedAt, lang) : ''}
                  </span>
                  <span role="cell" className="keys__actions">
                    {code ? (
                      <Button
                        size="sm"
                        variant="ghost"
                        aria-label={t('keys.hideNamed', { id: row.id })}
                        onClick={() => setRevealed(row.id, null)}
                      >
                        {t('keys.hide')}
                      </Button>
                    ) : (
                      <Button
                        size="sm"
                        variant="ghost"
                        aria-label={t('keys.revealNamed', { id: row.id })}
                        disabled={busyKey === row.id}
                        onClick={() => void reveal(row, 'reveal')}
                      >
                        {t('keys.reveal')}
                      </Button>
                    )}
                    <Button
                      size="sm"
                      variant="ghost"
                      aria-label={t('keys.copyNamed', { id: row.id })}
                      disabled={busyKey === row.id}
                      onClick={() => void reveal(row, 'copy')}
                    >
                      {t('keys.copy')}
                    </Button>
                  </span>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    );
  }

  return (
    <Card
      title={t('keys.title', { name: product.name })}
      subtitle={
        total === null
          ? t('states.loading', { ns: 'common' })
          : t('keys.count', { count: total, formatted: formatCount(total, lang) })
      }
      actions={filter}
      className="keys-card"
    >
      <p className="muted keys__audited">{t('keys.audited')}</p>
      {body}
    </Card>
  );
}
