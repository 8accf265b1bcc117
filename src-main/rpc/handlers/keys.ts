/** Handlers for shared/rpc/keys.ts: import and preview codes, the masked key table, audited reveal. */
import type { ImportSource, keysMethods } from '../../../shared/rpc/keys';
import { revealKeyPg } from '../../pg/key-access';
import type { ImportReport } from '../../vault/import';
import type { CodeSource } from '../../vault/import-source';
import { keyAudit, listKeys, revealKey } from '../../vault/key-access';
import { type Handlers, onBackend } from '../dispatcher';

const iso = (ms: number): string => new Date(ms).toISOString();

function codeSource(source: ImportSource): CodeSource {
  switch (source.kind) {
    case 'text':
      return { kind: 'text', text: source.text };
    case 'bytes':
      return { kind: 'bytes', name: source.name, data: Buffer.from(source.base64, 'base64') };
    case 'path':
      return { kind: 'file', path: source.path };
  }
}

function options(input: { column?: string | number | undefined; encoding?: 'utf-8' | 'gbk' | undefined }) {
  return {
    ...(input.column !== undefined ? { column: input.column } : {}),
    ...(input.encoding !== undefined ? { encoding: input.encoding } : {}),
  };
}

/** The report as the wire schema has it (plain arrays, no readonly). */
function wire(report: ImportReport) {
  const s = report.samples;
  return {
    ...report,
    column: report.column ? { ...report.column } : null,
    samples: {
      duplicatesInBatch: [...s.duplicatesInBatch],
      duplicatesInVault: [...s.duplicatesInVault],
      blank: [...s.blank],
      overLong: [...s.overLong],
      invalid: [...s.invalid],
    },
    rejected: report.rejected.map((r) => ({ ...r })),
  };
}

export const keysHandlers: Handlers<keyof typeof keysMethods> = {
  'keys.preview': async (input, { shop }) =>
    wire(await shop.previewImport(input.productId, codeSource(input.source), options(input))),
  'keys.import': async (input, { shop }) =>
    wire(await shop.importCodes(input.productId, codeSource(input.source), options(input))),
  'keys.list': async (input, { shop }) => {
    const page = await listKeys(shop.sql, shop.vault, {
      offset: input.offset,
      limit: input.limit,
      ...(input.productId !== undefined ? { productId: input.productId } : {}),
      ...(input.status !== undefined ? { status: input.status } : {}),
    });
    return {
      total: page.total,
      rows: page.rows.map((r) => ({ ...r, importedAt: r.importedAt === null ? null : iso(r.importedAt) })),
    };
  },
  'keys.reveal': async (input, ctx) => {
    const { keyId, purpose } = input;
    const vault = ctx.shop.vault;
    const code = await onBackend(ctx, {
      sqlite: (engine) => engine.writer.run((db, now) => revealKey(db, vault, keyId, purpose, ctx.actor, now)),
      // Safe to repeat after a lost connection: the reveal changes nothing but the audit trail, and a
      // repeat writes its own row (at worst one reveal audited twice; never a code shown unaudited).
      postgres: (pg) => pg.write((client, now) => revealKeyPg(client, now, vault, keyId, purpose, ctx.actor), true),
    });
    return { code };
  },
  'keys.audit': async (input, { shop }) => ({
    rows: (await keyAudit(shop.sql, input.keyId)).map((r) => ({ ...r, at: iso(r.at) })),
  }),
};
