/** Handlers for shared/rpc/reconcile.ts. */
import type { reconcileMethods } from '../../../shared/rpc/reconcile';
import { evidenceCsv, findingsCsv } from '../../reconcile/export';
import { lookup } from '../../reconcile/lookup';
import { runReconcilePgShop } from '../../reconcile/postgres';
import { importStatement, importStatementPg, runActions, runReconcile, type ImportStatementInput } from '../../reconcile/service';
import { listStatementsSql } from '../../reconcile/statements/store';
import { runActionsPg } from '../../reconcile/actions-pg';
import { readInSnapshot } from '../../pg/snapshot-read';
import { type Handlers, onBackend, type RpcContext } from '../dispatcher';

/** A dispute lookup on either backend: on PostgreSQL its reads share one snapshot (pg/snapshot-read.ts). */
const lookupOnShop = (ctx: RpcContext, query: string) =>
  onBackend(ctx, {
    sqlite: () => lookup(ctx.shop.sql, ctx.shop.vault, query),
    postgres: (shop) => readInSnapshot(shop.pool, (sql) => lookup(sql, shop.vault, query)),
  });

const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 19).replaceAll(':', '-');

export const reconcileHandlers: Handlers<keyof typeof reconcileMethods> = {
  'reconcile.run': (input, ctx) => {
    const ledger = input.ledger === undefined ? {} : { ledger: input.ledger };
    // Without statementIds every stored statement is compared, on either backend (the shop's own reconciler).
    if (!input.statementIds?.length) return ctx.shop.reconcile(ledger);
    const options = { statementIds: input.statementIds, ...ledger };
    return onBackend(ctx, {
      sqlite: (engine) => runReconcile(engine, options),
      postgres: (shop) => runReconcilePgShop(shop, options),
    });
  },
  'reconcile.statements': async (_input, ctx) => ({ statements: await listStatementsSql(ctx.shop.sql) }),
  'reconcile.importStatement': async (input, ctx) => {
    const statement: ImportStatementInput = {
      bytes: Buffer.from(input.base64, 'base64'),
      fileName: input.fileName,
      format: input.format,
      mapping: input.mapping,
      timeZone: input.timeZone,
      from: input.from,
      to: input.to,
      actor: ctx.actor,
    };
    const result = await onBackend(ctx, {
      sqlite: (engine) => importStatement(engine, statement),
      postgres: (shop) => importStatementPg(shop, statement),
    });
    return {
      statement: result.statement,
      imported: result.imported,
      duplicates: result.duplicates,
      encoding: result.encoding,
      skipped: result.skipped.slice(0, 200),
    };
  },
  'reconcile.action': (input, ctx) => {
    const request = { action: input.action, targets: input.targets, note: input.note, keys: input.keys, preview: input.preview };
    // One transaction per request on either backend: SQLite's writer, or the PostgreSQL shop's (preview rolled back).
    return onBackend(ctx, {
      sqlite: (engine) => runActions(engine, ctx.actor, request),
      postgres: (shop) => runActionsPg(shop, ctx.actor, request),
    });
  },
  'reconcile.lookup': (input, ctx) => lookupOnShop(ctx, input.query),
  'reconcile.export': async (input, ctx) => {
    const at = stamp(ctx.shop.clock());
    if (input.kind === 'findings')
      return { fileName: `oncekey-findings-${at}.csv`, csv: findingsCsv(await ctx.shop.reconcile()) };
    return { fileName: `oncekey-evidence-${at}.csv`, csv: evidenceCsv(await lookupOnShop(ctx, input.query)) };
  },
};
