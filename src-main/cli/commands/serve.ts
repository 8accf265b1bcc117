/**
 * `oncekey serve`: the engine and the shop's HTTP endpoint without a window (what the desktop app runs
 * inside). Prints `listening on http://<host>:<port>` once it accepts connections; on SIGINT/SIGTERM it
 * stops accepting, finishes in-flight requests, closes the database and exits 0.
 */
import { resolve } from 'node:path';
import { startHttpServer } from '../../http/server';
import { DATA_OPTION, openEngine, parse, parseInteger, requireString, type Io } from '../context';
import { resolveSecret } from '../secrets';

export const SERVE_OPTIONS = {
  ...DATA_OPTION,
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8787' },
  'admin-token': { type: 'string' },
  'webhook-secret': { type: 'string' },
  'hold-seconds': { type: 'string' },
  'rate-limit': { type: 'string' },
  'shop-host': { type: 'string', multiple: true },
  'max-orders-per-email': { type: 'string' },
  log: { type: 'boolean', default: false },
  browser: { type: 'boolean', default: false },
} as const;

export async function serveCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, SERVE_OPTIONS);
  const dataDir = resolve(requireString(values.data, '--data <dir>'));
  const port = parseInteger(values.port, '--port', 8787);
  const holdSeconds = parseInteger(values['hold-seconds'], '--hold-seconds', 900, 1);
  const rateLimit = parseInteger(values['rate-limit'], '--rate-limit', 60);
  const maxOrdersPerEmail = parseInteger(values['max-orders-per-email'], '--max-orders-per-email', 0);
  const engine = openEngine(dataDir, { holdSeconds });
  const adminToken = resolveSecret(dataDir, 'admin-token', values['admin-token'] ?? process.env.ONCEKEY_ADMIN_TOKEN);
  const webhookSecret = resolveSecret(dataDir, 'webhook-secret', values['webhook-secret'] ?? process.env.ONCEKEY_WEBHOOK_SECRET);
  for (const [label, secret] of [['admin token', adminToken], ['webhook secret', webhookSecret]] as const) {
    if (secret.file) io.err(`${label}: ${secret.generated ? 'generated and stored in' : 'read from'} ${secret.file}`);
  }
  if (values.host !== '127.0.0.1' && values.host !== 'localhost' && values.host !== '::1') {
    io.err(`warning: listening on ${values.host}: other machines on the network can reach this shop`);
  }

  // Listen for the stop signal from the start, so a SIGTERM during start-up still closes cleanly.
  const stopped = new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  let server: Awaited<ReturnType<typeof startHttpServer>> | null = null;
  try {
    // Release the holds that expired while no server was running before taking any order.
    await engine.startSweeper(5000, (error) => io.err(`expiry sweep failed: ${(error as Error).message}`));
    server = await startHttpServer(engine, {
      host: values.host,
      port,
      adminToken: adminToken.value,
      webhookSecret: webhookSecret.value,
      rateLimitPerMinute: rateLimit,
      shopHosts: values['shop-host'] ?? [],
      maxOrdersPerEmail,
      log: values.log,
    });
    io.out(`listening on ${server.url}`);
    await stopped;
  } finally {
    // Stop accepting, let in-flight requests finish (their writes commit), then close the database.
    await server?.close();
    await engine.close();
  }
  return 0;
}
