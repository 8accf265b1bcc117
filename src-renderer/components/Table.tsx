/**
 * A plain data table for lists of up to a few thousand rows (the key table with a million rows is
 * virtualised on its own page). Rows are clickable and keyboard-reachable when `onRowClick` is given.
 */
import type { KeyboardEvent, ReactNode } from 'react';
import { useTranslation } from 'react-i18next';

export interface Column<Row> {
  readonly key: string;
  readonly header: ReactNode;
  readonly render: (row: Row) => ReactNode;
  readonly align?: 'start' | 'end' | 'center';
  readonly width?: string;
}

export interface TableProps<Row> {
  readonly columns: readonly Column<Row>[];
  readonly rows: readonly Row[];
  readonly rowKey: (row: Row) => string;
  /** Announced to screen readers; also shown when `showCaption`. */
  readonly caption: string;
  readonly showCaption?: boolean;
  readonly empty?: ReactNode;
  readonly onRowClick?: (row: Row) => void;
  readonly selectedKey?: string | null;
}

export function Table<Row>({
  columns,
  rows,
  rowKey,
  caption,
  showCaption = false,
  empty,
  onRowClick,
  selectedKey,
}: TableProps<Row>) {
  const { t } = useTranslation('common');
  const onKey = (row: Row) => (event: KeyboardEvent<HTMLTableRowElement>) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      onRowClick?.(row);
    }
  };
  return (
    <div className="table-wrap">
      <table className={['table', onRowClick ? 'table--interactive' : ''].filter(Boolean).join(' ')}>
        <caption className={showCaption ? 'table__caption' : 'visually-hidden'}>{caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th key={column.key} scope="col" style={{ width: column.width, textAlign: column.align ?? 'start' }}>
                {column.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.length === 0 ? (
            <tr>
              <td className="table__empty" colSpan={columns.length}>
                {empty ?? t('table.noRows')}
              </td>
            </tr>
          ) : (
            rows.map((row) => {
              const key = rowKey(row);
              return (
                <tr
                  key={key}
                  tabIndex={onRowClick ? 0 : undefined}
                  onClick={onRowClick ? () => onRowClick(row) : undefined}
                  onKeyDown={onRowClick ? onKey(row) : undefined}
                  aria-selected={selectedKey === undefined ? undefined : selectedKey === key}
                >
                  {columns.map((column) => (
                    <td key={column.key} style={{ textAlign: column.align ?? 'start' }}>
                      {column.render(row)}
                    </td>
                  ))}
                </tr>
              );
            })
          )}
        </tbody>
      </table>
    </div>
  );
}
