/** Handlers for shared/rpc/ledger.ts: the ledger newest first, and its verification. */
import type { ledgerMethods } from '../../../shared/rpc/ledger';
import { listLedger } from '../../engine/order-queries';
import type { Handlers } from '../dispatcher';

export const ledgerHandlers: Handlers<keyof typeof ledgerMethods> = {
  'ledger.list': (input, { shop }) => listLedger(shop.sql, input),
  'ledger.verify': async (_input, { shop }) => {
    const report = await shop.verifyLedger();
    return {
      ok: report.ok,
      entries: report.entries,
      ...(report.firstBadEntry === undefined ? {} : { firstBadEntry: report.firstBadEntry }),
      problems: report.problems.map((p) => ({ seq: p.seq, reason: p.reason })),
    };
  },
};
