/**
 * One reconciliation run: every detector inside one read transaction (a sale committing meanwhile cannot
 * show up as a disagreement), then the resolution records laid over the findings. A resolved finding
 * stays in the report as resolved, also once the disagreement is gone (from the snapshot kept with its
 * resolution), so the support history is visible.
 */
import type { Finding } from '../../shared/api';
import { FINDING_KINDS, type FindingKind, type ReconcileFinding, type ReconcileReport } from '../../shared/reconcile';
import { stmt } from '../db/statements';
import { startLedgerVerify } from '../engine/ledger-verify';
import type { ReadableDB } from '../db/types';
import { detectExpiredHolds, detectKeySoldTwice, detectStockDrift } from './detect-keys';
import { detectLedger } from './detect-ledger';
import { detectDeliveredNotPaid, detectNeedsReview, detectPaidNotDelivered } from './detect-orders';
import { detectStatement } from './detect-statement';
import { Collector, iso } from './finding';

export interface ReconcileOptions {
  /** The clock: holds expired before `now - holdGraceMs` count as stuck. */
  readonly now?: number;
  /** How long past its expiry a hold may wait for the sweeper before it is a finding (default 60 s). */
  readonly holdGraceMs?: number;
  /** Statements to compare against; default every imported one. */
  readonly statementIds?: readonly number[];
  /** Findings kept per kind (all are counted). */
  readonly limitPerKind?: number;
  /** Replay the ledger (the costliest detector); default true. */
  readonly ledger?: boolean;
}

export const DEFAULT_LIMIT_PER_KIND = 2000;

interface ResolutionRow {
  finding_id: string;
  kind: string;
  action: string;
  note: string;
  actor: string;
  finding: string;
  resolved_at: number;
}

export function reconcile(db: ReadableDB, options: ReconcileOptions = {}): ReconcileReport {
  const now = options.now ?? Date.now();
  return db.transaction((): ReconcileReport => {
    const statementIds = options.statementIds ?? (stmt(db, 'SELECT id FROM statements ORDER BY id').pluck().all() as number[]);
    const out = new Collector(options.limitPerKind ?? DEFAULT_LIMIT_PER_KIND);
    // The ledger's replay and hash chain go to a worker at once (for a long ledger) and run while this
    // thread does the other detectors; a detector that throws stops the worker.
    const ledger = options.ledger === false ? null : startLedgerVerify(db, { workerShare: 1 });
    try {
      detectKeySoldTwice(db, out);
      detectPaidNotDelivered(db, out);
      detectDeliveredNotPaid(db, out);
      detectExpiredHolds(db, out, now, options.holdGraceMs ?? 60_000);
      detectStockDrift(db, out);
      detectNeedsReview(db, out);
      detectStatement(db, out, statementIds);
    } catch (error) {
      ledger?.cancel();
      throw error;
    }
    if (ledger) detectLedger(db, out, ledger.finish());

    const resolutions = new Map<string, ResolutionRow>();
    for (const row of stmt(
      db,
      'SELECT * FROM finding_resolutions ORDER BY resolved_at',
    ).iterate() as IterableIterator<ResolutionRow>) {
      resolutions.set(row.finding_id, row);
    }
    const counts: Record<string, { open: number; resolved: number }> = {};
    for (const kind of FINDING_KINDS) counts[kind] = { open: 0, resolved: 0 };
    const findings: ReconcileFinding[] = [];
    for (const finding of out.findings) {
      const resolution = resolutions.get(finding.id);
      resolutions.delete(finding.id);
      findings.push(resolution ? withResolution(finding, resolution, true) : finding);
    }
    for (const [kind, n] of out.counts) counts[kind]!.open += n;
    for (const f of findings) {
      if (f.status === 'resolved') {
        counts[f.kind]!.open--;
        counts[f.kind]!.resolved++;
      }
    }
    // Resolved and no longer found: shown as resolved, from the snapshot taken when it was resolved.
    for (const row of resolutions.values()) {
      let snapshot: ReconcileFinding;
      try {
        snapshot = JSON.parse(row.finding) as ReconcileFinding;
      } catch {
        continue;
      }
      if (!(FINDING_KINDS as readonly string[]).includes(snapshot.kind)) continue;
      findings.push(withResolution(snapshot, row, false));
      counts[snapshot.kind]!.resolved++;
    }
    const order = new Map<FindingKind, number>(FINDING_KINDS.map((k, i) => [k, i]));
    findings.sort(
      (a, b) => order.get(a.kind)! - order.get(b.kind)! || (a.status === b.status ? 0 : a.status === 'open' ? -1 : 1),
    );
    return { ranAt: iso(now)!, statementIds: [...statementIds], findings, counts, truncated: out.truncated };
  })();
}

function withResolution(finding: ReconcileFinding, row: ResolutionRow, present: boolean): ReconcileFinding {
  return {
    ...finding,
    status: 'resolved',
    present,
    resolution: { action: row.action, note: row.note, actor: row.actor, at: iso(row.resolved_at)! },
  };
}

/** The HTTP endpoint's compact form (shared/api.ts `Finding`): the two original kinds keep their original shape. */
export function toWireFinding(f: ReconcileFinding): Finding {
  if (f.kind === 'needs_review')
    return { kind: 'needs_review', orderId: f.orderId ?? f.subject, reason: String(f.actual.reason ?? 'unknown') };
  if (f.kind === 'stock_drift') {
    const stock = (r: Record<string, unknown>) => ({
      available: Number(r.available),
      reserved: Number(r.reserved),
      sold: Number(r.sold),
    });
    return { kind: 'stock_drift', productId: f.productId ?? f.subject, stored: stock(f.actual), actual: stock(f.expected) };
  }
  return {
    kind: f.kind,
    id: f.id,
    status: f.status,
    orderId: f.orderId,
    productId: f.productId,
    paymentId: f.paymentId,
    keyIds: f.keyIds,
    summary: f.summary,
    expected: f.expected,
    actual: f.actual,
  };
}
