/** Handlers for shared/rpc/reconcile.ts. */
import type { reconcileMethods } from '../../../shared/rpc/reconcile';
import { evidenceCsv, findingsCsv } from '../../reconcile/export';
import { lookup } from '../../reconcile/lookup';
import { importStatement, runActions, runReconcile } from '../../reconcile/service';
import { listStatements } from '../../reconcile/statements/store';
import type { Handlers } from '../dispatcher';

const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replaceAll(':', '-');

export const reconcileHandlers: Handlers<keyof typeof reconcileMethods> = {
  'reconcile.run': (input, { engine }) =>
    runReconcile(engine, {
      ...(input.statementIds ? { statementIds: input.statementIds } : {}),
      ...(input.ledger === undefined ? {} : { ledger: input.ledger }),
    }),
  'reconcile.statements': (_input, { engine }) => ({ statements: listStatements(engine.db) }),
  'reconcile.importStatement': async (input, { engine, actor }) => {
    const result = await importStatement(engine, {
      bytes: Buffer.from(input.base64, 'base64'),
      fileName: input.fileName,
      format: input.format,
      mapping: input.mapping,
      timeZone: input.timeZone,
      from: input.from,
      to: input.to,
      actor,
    });
    return {
      statement: result.statement,
      imported: result.imported,
      duplicates: result.duplicates,
      encoding: result.encoding,
      skipped: result.skipped.slice(0, 200),
    };
  },
  'reconcile.action': (input, { engine, actor }) =>
    runActions(engine, actor, {
      action: input.action,
      targets: input.targets,
      note: input.note,
      keys: input.keys,
      preview: input.preview,
    }),
  'reconcile.lookup': (input, { engine }) => lookup(engine.db, engine.vault, input.query),
  'reconcile.export': async (input, { engine }) => {
    const at = stamp(engine.clock());
    if (input.kind === 'findings')
      return { fileName: `oncekey-findings-${at}.csv`, csv: findingsCsv(await runReconcile(engine)) };
    return { fileName: `oncekey-evidence-${at}.csv`, csv: evidenceCsv(lookup(engine.db, engine.vault, input.query)) };
  },
};
