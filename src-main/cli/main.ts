/** The `oncekey` command line: one entry, one clear line per error, a non-zero exit on failure. */
import { isEngineError } from '../lib/errors';
import { backupCommand } from './commands/backup';
import { importCommand } from './commands/import';
import { ledgerCommand } from './commands/ledger';
import { openApiCommand } from './commands/openapi';
import { productCommand } from './commands/product';
import { reconcileCommand } from './commands/reconcile';
import { serveCommand } from './commands/serve';
import { migrateToPostgresCommand } from './commands/migrate-to-postgres';
import { simulateCommand } from './commands/simulate';
import { stockCommand } from './commands/stock';
import { consoleIo, UsageError, type Io } from './context';

type Command = (argv: readonly string[], io: Io) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  serve: {
    run: serveCommand,
    summary:
      'serve --data <dir> [--database postgres://... [--retry-deadline 10]] [--host 127.0.0.1] [--port 8787] [--public-url https://...]   run the shop endpoint',
  },
  'migrate-to-postgres': {
    run: migrateToPostgresCommand,
    summary: 'migrate-to-postgres --data <dir> --database postgres://...   copy a SQLite shop into an empty PostgreSQL database',
  },
  product: {
    run: productCommand,
    summary: 'product create --data <dir> [--database postgres://...] --name <n> --price 50.00 [--currency CNY]',
  },
  import: {
    run: importCommand,
    summary:
      'import --data <dir> [--database postgres://...] --product <id> <file|-> [--column c] [--encoding utf-8|gbk] [--dry-run] [--json]',
  },
  stock: {
    run: stockCommand,
    summary: 'stock --data <dir> [--database postgres://...] [--json]   available / reserved / sold per product',
  },
  ledger: {
    run: ledgerCommand,
    summary: 'ledger verify --data <dir> [--database postgres://...] [--json]   check the hash chain and replay it',
  },
  backup: { run: backupCommand, summary: 'backup --data <dir> --out <file>   online backup, checked by reopening it' },
  reconcile: {
    run: reconcileCommand,
    summary:
      'reconcile --data <dir> [--database postgres://...] [--no-ledger] [--statement <file> [--format wechat|alipay|stripe|paypal|generic] [--time-zone Asia/Shanghai] [--from <date> --to <date>]] [--json]',
  },
  openapi: {
    run: openApiCommand,
    summary: "openapi [--out <file>]   the shop endpoint's OpenAPI document (as GET /api/v1/openapi.json)",
  },
  simulate: {
    run: simulateCommand,
    summary: 'simulate --preset incident [--strategy naive] [--mode live|deterministic] [--compare] [--json]',
  },
};

export function usage(): string {
  return ['usage: oncekey <command> [options]', '', ...Object.values(COMMANDS).map((c) => `  oncekey ${c.summary}`)].join('\n');
}

export async function main(argv: readonly string[], io: Io = consoleIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.out(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  try {
    if (!command) throw new UsageError(`unknown command "${name}" (try: oncekey help)`);
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`oncekey ${name}: ${error.message}`);
      return 2;
    }
    const message = isEngineError(error) ? `${error.message} (${error.code})` : (error as Error).message;
    io.err(`oncekey ${name}: ${message}`);
    return 1;
  }
}
