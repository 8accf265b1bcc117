/** The Ledger page's methods: page through the hash-chained ledger, newest first, and verify it. */
import { z } from 'zod';
import { LedgerVerify } from '../api';
import { method } from './method';

export const LedgerEntry = z.object({
  seq: z.int().min(1),
  at: z.iso.datetime(),
  kind: z.enum(['import', 'reserve', 'release', 'sell', 'refund', 'burn', 'review']),
  productId: z.string(),
  orderId: z.string().nullable(),
  /** Key ids as stored: ascending runs, `1-3,7`. */
  keyIds: z.string(),
  keyCount: z.int().min(0),
  detail: z.record(z.string(), z.unknown()),
  /** The first 16 hex digits of the entry's hash, to compare with a printout. */
  hash: z.string(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

export const ledgerMethods = {
  'ledger.list': method({
    summary: 'ledger entries, newest first, before `beforeSeq` when given',
    writes: false,
    input: z.strictObject({
      beforeSeq: z.int().min(1).optional(),
      orderId: z.string().min(1).max(100).optional(),
      limit: z.int().min(1).max(500).default(100),
    }),
    output: z.object({
      entries: z.array(LedgerEntry),
      /** The newest entry's sequence number (0 for an empty ledger). */
      head: z.int().min(0),
      /** Pass as `beforeSeq` for the next (older) page; null at the start of the ledger. */
      nextBeforeSeq: z.int().nullable(),
    }),
  }),
  'ledger.verify': method({
    summary: 'replay the whole ledger against the keys and orders; names the first bad entry',
    writes: false,
    input: z.strictObject({}),
    output: LedgerVerify,
  }),
} as const;
