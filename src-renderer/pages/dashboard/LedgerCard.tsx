/**
 * The ledger's state: verified, broken (with the first bad entry) or not yet verified, and a button to
 * verify now. Verification replays every entry, so on a big ledger the card says it will take a while.
 */
import { useTranslation } from 'react-i18next';
import type { LedgerState } from '../../../shared/rpc/dashboard';
import { Badge, Button, Card, describeError } from '../../components';
import { formatCount, formatTime } from './format';

export interface LedgerCardProps {
  readonly ledger: LedgerState;
  readonly verifying: boolean;
  readonly verifyError: unknown;
  readonly onVerify: () => void;
}

export function LedgerCard({ ledger, verifying, verifyError, onVerify }: LedgerCardProps) {
  const { t, i18n } = useTranslation('dashboard');
  const lang = i18n.language;
  const badge =
    ledger.status === 'ok' ? (
      <Badge tone="success">{t('ledger.ok')}</Badge>
    ) : ledger.status === 'broken' ? (
      <Badge tone="danger">{t('ledger.broken')}</Badge>
    ) : (
      <Badge tone="info">{t('ledger.unverified')}</Badge>
    );
  const newSince = ledger.verifiedEntries === null ? 0 : ledger.entries - ledger.verifiedEntries;
  return (
    <Card
      title={t('ledger.title')}
      className="dash-ledger"
      actions={
        <Button size="sm" onClick={onVerify} busy={verifying}>
          {verifying ? t('ledger.verifying') : t('ledger.verify')}
        </Button>
      }
    >
      <p className="dash-ledger__status" data-testid="ledger-status">
        {badge} <span>{t('ledger.entries', { count: ledger.entries, formatted: formatCount(ledger.entries, lang) })}</span>
      </p>
      {ledger.verifiedAt ? (
        <p className="dash-ledger__meta">
          {t('ledger.verifiedAt', { time: formatTime(ledger.verifiedAt, lang), count: ledger.verifiedEntries ?? 0 })}
          {newSince > 0 ? ` ${t('ledger.newSince', { count: newSince })}` : ''}
          {ledger.durationMs !== null ? ` ${t('ledger.tookMs', { ms: formatCount(ledger.durationMs, lang) })}` : ''}
        </p>
      ) : null}
      {ledger.autoVerify ? null : <p className="dash-ledger__meta">{t('ledger.slowWarning')}</p>}
      {ledger.status === 'broken' ? (
        <div className="dash-ledger__problems" role="alert">
          {ledger.firstBadEntry !== null ? <p>{t('ledger.firstBad', { seq: ledger.firstBadEntry })}</p> : null}
          <p className="dash-ledger__problems-title">{t('ledger.problems')}</p>
          <ul>
            {ledger.problems.map((problem, index) => (
              <li key={index}>
                {problem.seq !== null ? `#${problem.seq}: ` : ''}
                {problem.reason}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {verifyError ? (
        <p className="field__error" role="alert">
          {describeError(t, verifyError)}
        </p>
      ) : null}
    </Card>
  );
}
