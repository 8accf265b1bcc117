/**
 * Evidence packs as CSV for a spreadsheet: UTF-8 with a byte-order mark (so Excel reads Chinese right),
 * CRLF line ends, RFC 4180 quoting, and text cells that a spreadsheet would run as a formula (starting
 * with = + - @, a tab or a carriage return) prefixed with an apostrophe. Numbers are written as numbers.
 * (Only a writer is needed here and csv-parse has none; the escaping rule is the part that matters.)
 */
import type { Cell, LookupResult, ReconcileReport } from '../../shared/reconcile';
import { FORMULA_LEAD } from '../../shared/reconcile';

const BOM = '\uFEFF';

export function csvCell(value: Cell | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const text = FORMULA_LEAD.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(header: readonly string[], rows: readonly (readonly (Cell | undefined)[])[]): string {
  return BOM + [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** A dispute's evidence: the orders, the keys, then the timeline. */
export function evidenceCsv(result: LookupResult): string {
  const rows: Cell[][] = [];
  for (const o of result.orders)
    rows.push([
      'order',
      o.createdAt,
      o.id,
      o.id,
      o.status,
      JSON.stringify({
        email: o.email,
        amount: o.amount,
        currency: o.currency,
        product: o.productId,
        reviewReason: o.reviewReason,
      }),
    ]);
  for (const k of result.keys)
    rows.push([
      'key',
      null,
      `key ${k.id}`,
      k.orderId,
      k.status,
      JSON.stringify({ product: k.productId, fingerprint: k.fingerprint }),
    ]);
  for (const e of result.timeline) rows.push([e.source, e.at, e.ref, e.orderId, e.what, JSON.stringify(e.detail)]);
  return toCsv(['section', 'at', 'ref', 'order', 'what', 'detail'], rows);
}

/** A reconciliation report: one line per finding with its expected and actual values. */
export function findingsCsv(report: ReconcileReport): string {
  return toCsv(
    ['id', 'kind', 'status', 'order', 'product', 'payment', 'amount', 'currency', 'summary', 'expected', 'actual', 'resolution'],
    report.findings.map((f) => [
      f.id,
      f.kind,
      f.status,
      f.orderId,
      f.productId,
      f.paymentId,
      f.amount?.amount ?? null,
      f.amount?.currency ?? null,
      f.summary,
      JSON.stringify(f.expected),
      JSON.stringify(f.actual),
      f.resolution ? `${f.resolution.action} by ${f.resolution.actor} at ${f.resolution.at}: ${f.resolution.note}` : null,
    ]),
  );
}
