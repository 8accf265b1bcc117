/**
 * The dashboard's view of the ledger on either backend: how big the shop is, the last verification's
 * result (cached per shop: a small shop is re-verified inline when the dashboard asks, a big one only on
 * request, because replaying a million keys takes seconds and, on SQLite, blocks the main process), and
 * the LedgerState the renderer shows.
 *
 * The cache is keyed by the SQLite engine when there is one (the desktop app and browser mode may each
 * hold their own ShopBackend for the same engine), else by the PgShop, one per process.
 */
import { INLINE_VERIFY_MAX_MS, INLINE_VERIFY_MAX_ROWS, type LedgerState } from '../../../shared/rpc/dashboard';
import type { VerifyReport } from '../../engine/ledger-verify';
import type { RpcContext } from '../dispatcher';

/** A small ledger's cached result is trusted this long before the dashboard re-verifies it inline. */
const INLINE_REVERIFY_MS = 60_000;

interface CachedVerify {
  readonly report: VerifyReport;
  readonly at: number;
  readonly durationMs: number;
  readonly entries: number;
}

const verifyCache = new WeakMap<object, CachedVerify>();
/** An inline verification under way, which a second dashboard asking meanwhile waits for instead of starting another. */
const inlineRuns = new WeakMap<object, Promise<CachedVerify>>();

const cacheKey = (ctx: RpcContext): object => ctx.engine ?? ctx.shop;

/** The ledger's entries and the highest key id: the shop's size, read in one statement on either backend. */
interface LedgerSize {
  readonly entries: number;
  readonly keys: number;
}

async function ledgerSize(ctx: RpcContext): Promise<LedgerSize> {
  const row = await ctx.shop.sql.get<{ entries: unknown; key_rows: unknown }>(
    `SELECT (SELECT coalesce(max(seq), 0) FROM ledger) AS entries, (SELECT coalesce(max(id), 0) FROM keys) AS key_rows`,
  );
  // PostgreSQL answers BIGINT as a string.
  return { entries: Number(row?.entries ?? 0), keys: Number(row?.key_rows ?? 0) };
}

async function verifyNow(ctx: RpcContext, entriesBefore: number): Promise<CachedVerify> {
  const started = performance.now();
  const report = await ctx.shop.verifyLedger();
  const cached: CachedVerify = {
    report,
    at: ctx.shop.clock(),
    durationMs: Math.round(performance.now() - started),
    entries: report.entries || entriesBefore,
  };
  verifyCache.set(cacheKey(ctx), cached);
  return cached;
}

/** Small enough to verify without asking: few rows, and the last run (if any) was quick. */
function autoVerifies(size: LedgerSize, cached: CachedVerify | undefined): boolean {
  return size.entries + size.keys <= INLINE_VERIFY_MAX_ROWS && (cached?.durationMs ?? 0) <= INLINE_VERIFY_MAX_MS;
}

function ledgerState(cached: CachedVerify | undefined, size: LedgerSize): LedgerState {
  const autoVerify = autoVerifies(size, cached);
  if (!cached) {
    return {
      status: 'unverified',
      entries: size.entries,
      autoVerify,
      verifiedEntries: null,
      verifiedAt: null,
      durationMs: null,
      firstBadEntry: null,
      problems: [],
    };
  }
  return {
    status: cached.report.ok ? 'ok' : 'broken',
    entries: size.entries,
    autoVerify,
    verifiedEntries: cached.entries,
    verifiedAt: new Date(cached.at).toISOString(),
    durationMs: cached.durationMs,
    firstBadEntry: cached.report.firstBadEntry ?? null,
    problems: cached.report.problems.slice(0, 10).map((p) => ({ seq: p.seq, reason: p.reason })),
  };
}

/** The cached state, refreshed inline when the ledger is small and the cache is stale. */
export async function currentLedger(ctx: RpcContext): Promise<LedgerState> {
  const key = cacheKey(ctx);
  const size = await ledgerSize(ctx);
  let cached = verifyCache.get(key);
  const stale = cached?.entries !== size.entries || ctx.shop.clock() - (cached?.at ?? 0) > INLINE_REVERIFY_MS;
  if (stale && autoVerifies(size, cached)) {
    let run = inlineRuns.get(key);
    if (!run) {
      run = verifyNow(ctx, size.entries).finally(() => inlineRuns.delete(key));
      inlineRuns.set(key, run);
    }
    cached = await run;
  }
  return ledgerState(cached, size);
}

/** Verifies the whole ledger now (whatever its size), caches and returns the result. */
export async function verifyLedgerNow(ctx: RpcContext): Promise<LedgerState> {
  const before = await ledgerSize(ctx);
  const cached = await verifyNow(ctx, before.entries);
  return ledgerState(cached, await ledgerSize(ctx));
}
