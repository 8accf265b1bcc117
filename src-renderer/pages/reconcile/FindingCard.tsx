/**
 * One finding: what disagrees, expected and actual side by side with the differing values highlighted,
 * the evidence rows it rests on, and the actions a support agent can take. A resolved finding says who
 * resolved it, how and why.
 */
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { ActionKind, Cell, ReconcileFinding } from '../../../shared/reconcile';
import { Badge, Button } from '../../components';
import { formatTime } from '../dashboard/format';

const show = (v: Cell | undefined): string => (v === undefined || v === null || v === '' ? '—' : String(v));

export function DiffTable({ finding }: { finding: ReconcileFinding }) {
  const { t } = useTranslation('reconcile');
  const fields = [...new Set([...Object.keys(finding.expected), ...Object.keys(finding.actual)])];
  if (fields.length === 0) return null;
  return (
    <table className="rc-diff">
      <thead>
        <tr>
          <th scope="col">{t('finding.field')}</th>
          <th scope="col">{t('finding.expected')}</th>
          <th scope="col">{t('finding.actual')}</th>
        </tr>
      </thead>
      <tbody>
        {fields.map((field) => {
          const differs = show(finding.expected[field]) !== show(finding.actual[field]);
          return (
            <tr key={field} className={differs ? 'rc-diff__row--differs' : undefined}>
              <th scope="row" className="mono">
                {field}
              </th>
              <td className="mono rc-diff__expected">{show(finding.expected[field])}</td>
              <td className="mono rc-diff__actual">
                {show(finding.actual[field])}
                {differs ? <span className="visually-hidden"> ({t('finding.differs')})</span> : null}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function Evidence({ finding }: { finding: ReconcileFinding }) {
  const { t } = useTranslation('reconcile');
  if (finding.evidence.length === 0) return null;
  return (
    <div className="rc-evidence">
      <h4>{t('finding.evidence')}</h4>
      <ul>
        {finding.evidence.map((row, i) => (
          <li key={`${row.source}-${row.ref}-${i}`}>
            <Badge tone="neutral">{row.source}</Badge> <span className="mono">{row.ref}</span>{' '}
            <span className="rc-evidence__fields">
              {Object.entries(row.fields)
                .filter(([, v]) => v !== null && v !== '')
                .map(([k, v]) => `${k}=${String(v)}`)
                .join(' · ')}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

export interface FindingCardProps {
  readonly finding: ReconcileFinding;
  readonly selected: boolean;
  readonly onToggle: () => void;
  readonly onAction: (action: ActionKind) => void;
}

export function FindingCard({ finding, selected, onToggle, onAction }: FindingCardProps) {
  const { t, i18n } = useTranslation('reconcile');
  const [open, setOpen] = useState(false);
  const resolved = finding.status === 'resolved';
  return (
    <li className={['rc-finding', resolved ? 'rc-finding--resolved' : ''].filter(Boolean).join(' ')} data-finding={finding.id}>
      <div className="rc-finding__head">
        <input type="checkbox" checked={selected} onChange={onToggle} aria-label={t('finding.select', { id: finding.id })} />
        <Badge tone={resolved ? 'success' : 'danger'}>
          {resolved ? (finding.present ? t('status.resolved') : t('status.gone')) : t('status.open')}
        </Badge>
        <span className="rc-finding__summary">{finding.summary}</span>
        <button type="button" className="link-btn" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? t('finding.hide') : t('finding.show')}
        </button>
      </div>
      {finding.resolution ? (
        <p className="rc-finding__resolution">
          {t('finding.resolvedBy', {
            action: t(`action.${finding.resolution.action}`, { defaultValue: finding.resolution.action }),
            actor: finding.resolution.actor,
            time: formatTime(finding.resolution.at, i18n.language),
          })}
          {': '}
          <q>{finding.resolution.note}</q>
        </p>
      ) : null}
      <DiffTable finding={finding} />
      {open ? <Evidence finding={finding} /> : null}
      {!resolved || finding.present ? (
        <div className="rc-finding__actions">
          {finding.actions.map((action) => (
            <Button
              key={action}
              size="sm"
              variant={action === 'resolve' ? 'ghost' : 'secondary'}
              onClick={() => onAction(action)}
            >
              {t(`action.${action}`)}
            </Button>
          ))}
        </div>
      ) : null}
    </li>
  );
}
