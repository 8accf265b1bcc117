/**
 * `oncekey ledger verify`: walk the hash chain and replay it against the keys and orders, in the SQLite
 * file or the PostgreSQL database (`--database`). Exit 3 when it is broken.
 */
import { JSON_OPTION, parse, printJson, UsageError, type Io } from '../context';
import { BACKEND_OPTIONS, openBackend } from '../open-backend';

export async function ledgerCommand(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'verify') throw new UsageError('usage: oncekey ledger verify --data <dir> [--database postgres://...] [--json]');
  const { values } = parse(rest, { ...BACKEND_OPTIONS, ...JSON_OPTION });
  const shop = await openBackend(values);
  try {
    const report = await shop.verifyLedger();
    if (values.json) {
      printJson(io, report);
    } else if (report.ok) {
      io.out(`ledger ok: ${report.entries} entries, chain intact, every key and order matches its history`);
    } else {
      io.out(
        `ledger BROKEN: ${report.entries} entries; first bad entry: ${report.firstBadEntry ?? 'none (state not in ledger)'}`,
      );
      for (const problem of report.problems) io.out(`  ${problem.seq === null ? '-' : `#${problem.seq}`}: ${problem.reason}`);
    }
    // A broken ledger is a finding, not a failure of the command, but scripts want to notice it.
    return report.ok ? 0 : 3;
  } finally {
    await shop.close();
  }
}
