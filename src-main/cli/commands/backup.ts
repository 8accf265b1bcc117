/** `oncekey backup`: SQLite's online backup to a file, checked by reopening it. */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { openReadOnly, schemaVersion } from '../../db/open';
import { verifyLedger } from '../../engine/ledger-verify';
import { DATA_OPTION, JSON_OPTION, openEngine, parse, printJson, requireString, UsageError, type Io } from '../context';

export async function backupCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    ...DATA_OPTION,
    ...JSON_OPTION,
    out: { type: 'string' },
    force: { type: 'boolean', default: false },
  });
  const out = resolve(requireString(values.out, '--out <file>'));
  if (existsSync(out) && !values.force) throw new UsageError(`${out} already exists (use --force to overwrite it)`);
  const engine = openEngine(values.data);
  try {
    await engine.writer.idle();
    const { totalPages } = await engine.db.backup(out);
    const copy = openReadOnly(out);
    try {
      const integrity = copy.pragma('integrity_check', { simple: true });
      if (integrity !== 'ok') throw new Error(`the backup failed its integrity check: ${String(integrity)}`);
      const ledger = verifyLedger(copy);
      const summary = {
        file: out,
        pages: totalPages,
        schemaVersion: schemaVersion(copy),
        products: copy.prepare('SELECT count(*) FROM products').pluck().get() as number,
        keys: copy.prepare('SELECT count(*) FROM keys').pluck().get() as number,
        orders: copy.prepare('SELECT count(*) FROM orders').pluck().get() as number,
        ledger: { ok: ledger.ok, entries: ledger.entries },
      };
      if (values.json) printJson(io, summary);
      else {
        io.out(`backup written to ${out}: ${summary.keys} keys, ${summary.orders} orders, ledger ${ledger.ok ? 'ok' : 'BROKEN'}`);
        io.out('codes in it stay encrypted: keep vault.key (or the vault passphrase) somewhere safe, apart from the backup');
      }
    } finally {
      copy.close();
    }
    return 0;
  } finally {
    await engine.close();
  }
}
