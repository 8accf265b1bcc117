/** Handlers for shared/rpc/reconcile.ts. */
import type { reconcileMethods } from '../../../shared/rpc/reconcile';
import { evidenceCsv, findingsCsv } from '../../reconcile/export';
import { lookup } from '../../reconcile/lookup';
import { importStatement, runActions, runReconcile } from '../../reconcile/service';
import { listStatements } from '../../reconcile/statements/store';
import { type Handlers, sqliteOnly } from '../dispatcher';

const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replaceAll(':', '-');

export const reconcileHandlers: Handlers<keyof typeof reconcileMethods> = {
  'reconcile.run': (input, ctx) => {
    const ledger = input.ledger === undefined ? {} : { ledger: input.ledger };
    // Statements are stored on SQLite only: PostgreSQL's reconciliation compares the shop's own rows.
    if (!input.statementIds?.length) return ctx.shop.reconcile(ledger);
    return runReconcile(sqliteOnly(ctx, 'Reconciling against a statement'), { statementIds: input.statementIds, ...ledger });
  },
  'reconcile.statements': (_input, ctx) => ({ statements: ctx.engine ? listStatements(ctx.engine.db) : [] }),
  'reconcile.importStatement': async (input, ctx) => {
    const result = await importStatement(sqliteOnly(ctx, 'Importing a statement'), {
      bytes: Buffer.from(input.base64, 'base64'),
      fileName: input.fileName,
      format: input.format,
      mapping: input.mapping,
      timeZone: input.timeZone,
      from: input.from,
      to: input.to,
      actor: ctx.actor,
    });
    return {
      statement: result.statement,
      imported: result.imported,
      duplicates: result.duplicates,
      encoding: result.encoding,
      skipped: result.skipped.slice(0, 200),
    };
  },
  'reconcile.action': (input, ctx) =>
    runActions(sqliteOnly(ctx, 'Resolving a finding'), ctx.actor, {
      action: input.action,
      targets: input.targets,
      note: input.note,
      keys: input.keys,
      preview: input.preview,
    }),
  'reconcile.lookup': (input, ctx) => {
    const engine = sqliteOnly(ctx, 'Looking up a dispute');
    return lookup(engine.db, engine.vault, input.query);
  },
  'reconcile.export': async (input, ctx) => {
    const at = stamp(ctx.shop.clock());
    if (input.kind === 'findings')
      return { fileName: `oncekey-findings-${at}.csv`, csv: findingsCsv(await ctx.shop.reconcile()) };
    const engine = sqliteOnly(ctx, 'Exporting the evidence of a dispute');
    return { fileName: `oncekey-evidence-${at}.csv`, csv: evidenceCsv(lookup(engine.db, engine.vault, input.query)) };
  },
};
