/**
 * The ledger's verification (replayed by engine/ledger-verify.ts) as findings: a broken hash chain, and
 * each key or order row that disagrees with what its history says.
 */
import { stmt } from '../db/statements';
import type { ReadableDB } from '../db/types';
import type { VerifyReport } from '../engine/ledger-verify';
import { keyEvidence, orderRow } from './evidence';
import { type Collector, iso, makeFinding, orderEvidence } from './finding';

const STATE_PROBLEM = /^(key (\d+)|order (\S+)) /;

/** The ledger's verification (engine/ledger-verify.ts) as findings: a broken chain is one; each row that disagrees with its history is one more. */
export function detectLedger(db: ReadableDB, out: Collector, report: VerifyReport): void {
  if (report.ok) return;
  const chain = report.problems.filter((p) => !STATE_PROBLEM.test(p.reason));
  const state = report.problems.filter((p) => STATE_PROBLEM.test(p.reason));
  if (chain.length > 0) {
    const first = chain[0]!;
    out.add('ledger_broken', () =>
      makeFinding('ledger_broken', {
        subject: `seq:${first.seq ?? 'none'}`,
        summary: `the ledger is broken from entry ${first.seq ?? '?'}: ${first.reason}`,
        expected: { chainIntact: true, firstBadEntry: null },
        actual: { chainIntact: false, firstBadEntry: first.seq },
        evidence: chain.map((p) => ({ source: 'ledger', ref: String(p.seq ?? '-'), fields: { seq: p.seq, problem: p.reason } })),
        actions: ['resolve'],
      }),
    );
  }
  for (const problem of state) {
    const match = STATE_PROBLEM.exec(problem.reason)!;
    const keyId = match[2] === undefined ? null : Number(match[2]);
    const orderId = match[3] ?? null;
    const subject = keyId !== null ? `key:${keyId}` : `order:${orderId}`;
    out.add('ledger_state_mismatch', () => {
      const entry =
        problem.seq === null
          ? undefined
          : (stmt(db, 'SELECT seq, at, kind, order_id, key_ids, detail FROM ledger WHERE seq = ?').get(problem.seq) as
              { seq: number; at: number; kind: string; order_id: string | null; key_ids: string; detail: string } | undefined);
      const current = keyId !== null ? keyEvidence(db, keyId) : orderId ? orderRow(db, orderId) : undefined;
      return makeFinding('ledger_state_mismatch', {
        subject,
        orderId,
        keyIds: keyId === null ? [] : [keyId],
        summary: problem.reason,
        expected: { ledgerEntry: problem.seq, state: ledgerSays(problem.reason) },
        actual: { state: rowSays(problem.reason) },
        evidence: [
          ...(entry
            ? [
                {
                  source: 'ledger' as const,
                  ref: String(entry.seq),
                  fields: {
                    kind: entry.kind,
                    at: iso(entry.at),
                    order: entry.order_id,
                    keys: entry.key_ids,
                    detail: entry.detail,
                  },
                },
              ]
            : []),
          ...(current === undefined || current === null ? [] : 'source' in current ? [current] : [orderEvidence(current)]),
        ],
        actions: ['resolve'],
      });
    });
  }
}

function ledgerSays(reason: string): string {
  return (
    /the ledger (?:left it|gave it to) (\S+)/.exec(reason)?.[1] ??
    (reason.includes('in the ledger but not in the vault') ? 'exists' : 'absent')
  );
}

function rowSays(reason: string): string {
  return (
    /is (\S+) now/.exec(reason)?.[1] ??
    /belongs to order (\S+) now/.exec(reason)?.[1] ??
    (reason.includes('not in the vault') ? 'missing' : 'present')
  );
}
