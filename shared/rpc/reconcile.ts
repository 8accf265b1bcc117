/**
 * Reconciliation and disputes: run the detectors, import a payment statement, act on findings (with a
 * preview first), look a dispute up, export evidence as CSV. Schemas are in shared/reconcile.ts.
 */
import { z } from 'zod';
import {
  ActionRequest,
  ActionResult,
  ColumnMapping,
  LookupResult,
  ReconcileReport,
  StatementFormat,
  StatementInfo,
} from '../reconcile';
import { method } from './method';

/** Largest statement accepted over RPC (base64 grows it by a third). */
export const MAX_STATEMENT_BYTES = 50 * 1024 * 1024;

export const reconcileMethods = {
  'reconcile.run': method({
    summary: 'run every detector (one read transaction) and lay the resolutions over the findings',
    writes: false,
    input: z.strictObject({
      statementIds: z.array(z.int().min(1)).max(1000).optional(),
      ledger: z.boolean().optional(),
    }),
    output: ReconcileReport,
  }),
  'reconcile.statements': method({
    summary: 'the imported payment statements, newest first',
    writes: false,
    input: z.strictObject({}),
    output: z.object({ statements: z.array(StatementInfo) }),
  }),
  'reconcile.importStatement': method({
    summary: 'import a payment statement (a preset or a column mapping); rows imported before are left out',
    writes: true,
    input: z.strictObject({
      fileName: z.string().min(1).max(300),
      base64: z.base64().max(Math.ceil(MAX_STATEMENT_BYTES / 3) * 4),
      format: StatementFormat.optional(),
      mapping: ColumnMapping.optional(),
      /** The shop's time zone for the bill's whole days (IANA; default Asia/Shanghai for CNY, else UTC). */
      timeZone: z.string().min(1).max(64).optional(),
      /** The bill's period when it does not say: a date (2026-12-04) or a date-time with offset. */
      from: z.string().min(10).max(40).optional(),
      to: z.string().min(10).max(40).optional(),
    }),
    output: z.object({
      statement: StatementInfo.nullable(),
      imported: z.int(),
      duplicates: z.int(),
      encoding: z.string(),
      skipped: z.array(z.object({ line: z.int(), reason: z.string() })),
    }),
  }),
  'reconcile.action': method({
    summary: 'redeliver, refund, release, link a payment or resolve: one audited transaction; preview: true changes nothing',
    writes: true,
    input: ActionRequest,
    output: ActionResult,
  }),
  'reconcile.lookup': method({
    summary: 'find a dispute by order id, e-mail, payment id or pasted code (by fingerprint), with its timeline',
    writes: false,
    input: z.strictObject({ query: z.string().min(1).max(1000) }),
    output: LookupResult,
  }),
  'reconcile.export': method({
    summary: 'CSV (UTF-8 with BOM, formula cells escaped): the findings, or the evidence for a lookup',
    writes: false,
    input: z.discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('findings') }),
      z.strictObject({ kind: z.literal('evidence'), query: z.string().min(1).max(1000) }),
    ]),
    output: z.object({ fileName: z.string(), csv: z.string() }),
  }),
} as const;
