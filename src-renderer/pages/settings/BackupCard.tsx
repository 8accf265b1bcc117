/**
 * Online backup to a file, and restore: the file is checked now and put in place at the next start
 * (a SQLite shop's database file). A PostgreSQL shop is backed up with pg_dump: its card says so.
 */
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { SettingsView } from '../../../shared/rpc/settings';
import { Button, Card, Confirm, Field, Input, toast } from '../../components';
import { useTransport } from '../../transport';
import { formatTime } from '../dashboard/format';
import { useSettings } from './store';

const isFullPath = (p: string): boolean => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || p.startsWith('\\\\');

function suggestedPath(dataDir: string): string {
  const sep = dataDir.includes('\\') ? '\\' : '/';
  const day = new Date().toISOString().slice(0, 10);
  return `${dataDir}${sep}oncekey-backup-${day}.db`;
}

export function BackupCard({ settings }: { settings: SettingsView }) {
  const { t, i18n } = useTranslation('settings');
  const transport = useTransport();
  const { backup, restore, cancelRestore } = useSettings.getState();
  const [path, setPath] = useState('');
  const [overwrite, setOverwrite] = useState(false);
  const [restorePath, setRestorePath] = useState('');
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const [pathError, setPathError] = useState<'backup' | 'restore' | null>(null);
  const example = suggestedPath(settings.dataDir);

  const runBackup = () => {
    const target = path.trim() || example;
    if (!isFullPath(target)) {
      setPathError('backup');
      return;
    }
    setBusy(true);
    backup(transport, target, overwrite)
      .then((r) => {
        setPath(target);
        toast.success(
          t('backup.done', { keys: r.keys, orders: r.orders, ledger: r.ledgerOk ? t('backup.ledgerOk') : t('backup.ledgerBad') }),
        );
      })
      .catch((error: unknown) => toast.fromError(t, error))
      .finally(() => setBusy(false));
  };

  return (
    <Card title={t('backup.title')} subtitle={t('backup.subtitle')}>
      <div className="stack">
        <div className="settings-inline">
          <Field
            label={t('backup.path')}
            hint={t('backup.pathHint', { example })}
            error={pathError === 'backup' ? t('backup.pathRequired') : undefined}
            className="settings-inline__grow"
          >
            <Input
              value={path}
              placeholder={example}
              spellCheck={false}
              onChange={(e) => {
                setPath(e.target.value);
                setPathError(null);
              }}
            />
          </Field>
          <Button variant="primary" busy={busy} onClick={runBackup}>
            {t('backup.run')}
          </Button>
        </div>
        <label className="settings-check">
          <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} /> {t('backup.overwrite')}
        </label>

        {settings.pendingRestore ? (
          <div className="settings-warning row" role="note">
            <span>
              {t('backup.pending', {
                source: settings.pendingRestore.source,
                time: formatTime(settings.pendingRestore.stagedAt, i18n.language),
              })}
            </span>
            <Button
              size="sm"
              onClick={() =>
                void cancelRestore(transport).then(
                  () => toast.info(t('backup.cancelled')),
                  (error: unknown) => toast.fromError(t, error),
                )
              }
            >
              {t('backup.cancel')}
            </Button>
          </div>
        ) : null}

        <div className="settings-inline">
          <Field
            label={t('backup.restorePath')}
            hint={t('backup.restoreHint')}
            error={pathError === 'restore' ? t('backup.pathRequired') : undefined}
            className="settings-inline__grow"
          >
            <Input
              value={restorePath}
              spellCheck={false}
              onChange={(e) => {
                setRestorePath(e.target.value);
                setPathError(null);
              }}
            />
          </Field>
          <Button
            onClick={() => {
              if (!isFullPath(restorePath.trim())) setPathError('restore');
              else setAsking(true);
            }}
          >
            {t('backup.restore')}
          </Button>
        </div>
      </div>
      <Confirm
        open={asking}
        danger
        title={t('backup.restoreTitle')}
        confirmLabel={t('backup.restoreConfirm')}
        onCancel={() => setAsking(false)}
        onConfirm={async () => {
          const result = await restore(transport, restorePath.trim());
          setAsking(false);
          toast.success(t('backup.staged', { keys: result.keys, orders: result.orders }));
        }}
      >
        <p>{t('backup.restoreBody')}</p>
      </Confirm>
    </Card>
  );
}

/** The backup card of a PostgreSQL shop: the app copies no database file there; pg_dump does. */
export function PostgresBackupCard() {
  const { t } = useTranslation('settings');
  return (
    <Card title={t('backup.title')}>
      <p className="muted settings-note" role="note">
        {t('backup.postgres')}
      </p>
    </Card>
  );
}
