/**
 * `oncekey openapi [--out <file>]`: the shop endpoint's OpenAPI document, exactly as `serve` answers
 * `GET /api/v1/openapi.json`, for a shop front's code generator or a linter. It builds the endpoint on a
 * throw-away shop in a temporary folder and never listens.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Engine } from '../../engine/engine';
import { buildHttpApp } from '../../http/server';
import { parse, type Io } from '../context';

export async function openApiDocument(): Promise<unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-openapi-'));
  const engine = Engine.open({ dataDir: dir });
  try {
    const app = await buildHttpApp(engine, {
      host: '127.0.0.1',
      port: 0,
      adminToken: 'unused',
      webhookSecret: 'unused',
      rateLimitPerMinute: 0,
    });
    await app.ready();
    const document = app.swagger();
    await app.close();
    return document;
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function openApiCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, { out: { type: 'string' } });
  const text = `${JSON.stringify(await openApiDocument(), null, 2)}\n`;
  if (values.out) {
    const out = resolve(values.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
    io.err(`wrote ${values.out}`);
  } else {
    io.out(text.trimEnd());
  }
  return 0;
}
