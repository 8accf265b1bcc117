/**
 * A statement's period: the span of time it claims to cover, inside which every order OnceKey marked
 * paid must appear in it (`order_paid_missing_in_statement`). A bill's rows stop at its last payment, so
 * the period is not the first and last row: in order,
 *
 * 1. `given`: the `from`/`to` the importer gave (`--from/--to`), always first;
 * 2. `declared`: the period the bill states in its own header (Alipay's 起始日期/终止日期);
 * 3. `row_days`: the whole days its rows fall on, in the shop's time zone (Asia/Shanghai for a CNY bill,
 *    UTC otherwise, unless a time zone is given): a WeChat bill for 12-04 covers 12-04 00:00 to 23:59:59.999
 *    Beijing time even when its last row is at 18:00.
 */
export type PeriodRule = 'given' | 'declared' | 'row_days';

export interface Period {
  /** Unix ms, both inclusive. */
  readonly start: number;
  readonly end: number;
  readonly rule: PeriodRule;
}

/** The shop's time zone for a statement in these currencies, unless one is given. */
export function defaultTimeZone(currencies: Iterable<string>): string {
  for (const currency of currencies) if (currency === 'CNY') return 'Asia/Shanghai';
  return 'UTC';
}

/** Throws when `zone` is not an IANA time zone this runtime knows. */
export function checkTimeZone(zone: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    throw new RangeError(`${zone} is not a time zone (use an IANA name such as Asia/Shanghai or America/New_York)`);
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The local calendar date and time at `ms` in `zone`, as fields. */
function localParts(ms: number, zone: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, format);
  }
  const parts: Record<string, number> = {};
  for (const p of format.formatToParts(new Date(ms))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return { y: parts.year!, mo: parts.month!, d: parts.day!, h: parts.hour!, mi: parts.minute!, s: parts.second! };
}

/** The zone's offset from UTC at `ms`, in ms (east positive). */
function offsetAt(ms: number, zone: string): number {
  const p = localParts(ms, zone);
  return Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s) - Math.floor(ms / 1000) * 1000;
}

/** The instant a local calendar day begins in `zone` (a DST change at midnight moves it, never the date). */
export function startOfLocalDay(y: number, mo: number, d: number, zone: string): number {
  const naive = Date.UTC(y, mo - 1, d);
  let guess = naive - offsetAt(naive, zone);
  // Twice: the offset at the guess can differ from the offset at the naive instant across a DST change.
  guess = naive - offsetAt(guess, zone);
  return guess;
}

/** The whole local days, in `zone`, that the instants `first` .. `last` fall on. */
export function wholeDays(first: number, last: number, zone: string): { start: number; end: number } {
  const a = localParts(first, zone);
  const b = localParts(last, zone);
  const next = new Date(Date.UTC(b.y, b.mo - 1, b.d + 1));
  return {
    start: startOfLocalDay(a.y, a.mo, a.d, zone),
    end: startOfLocalDay(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), zone) - 1,
  };
}

/**
 * A `--from`/`--to` bound: a date (`2026-12-04`, the whole local day in `zone`: from its first instant,
 * to its last) or a date and time with its offset (`2026-12-04T18:00:00+08:00`).
 */
export function periodBound(text: string, side: 'from' | 'to', zone: string): number {
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (date) {
    const [y, mo, d] = [Number(date[1]), Number(date[2]), Number(date[3])];
    const check = new Date(Date.UTC(y, mo - 1, d));
    if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) throw new RangeError(`--${side} ${text} is not a date`);
    if (side === 'from') return startOfLocalDay(y, mo, d, zone);
    const next = new Date(Date.UTC(y, mo - 1, d + 1));
    return startOfLocalDay(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), zone) - 1;
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text.trim()))
    throw new RangeError(
      `--${side} ${text} is neither a date (2026-12-04) nor a time with its offset (2026-12-04T18:00:00+08:00)`,
    );
  return Date.parse(text.trim());
}

export interface PeriodInput {
  readonly rows: readonly { readonly at: number; readonly currency: string }[];
  readonly declared: { readonly start: number; readonly end: number } | null;
  /** `--from` / `--to` as typed. */
  readonly given?: { readonly from?: string | undefined; readonly to?: string | undefined } | undefined;
  readonly timeZone?: string | undefined;
}

export function statementPeriod(input: PeriodInput): Period & { readonly timeZone: string } {
  const zone = checkTimeZone(input.timeZone ?? defaultTimeZone(input.rows.map((r) => r.currency)));
  const from = input.given?.from === undefined ? undefined : periodBound(input.given.from, 'from', zone);
  const to = input.given?.to === undefined ? undefined : periodBound(input.given.to, 'to', zone);
  if (from !== undefined && to !== undefined && to < from)
    throw new RangeError('the period ends before it starts (--to is before --from)');
  let base: { start: number; end: number; rule: PeriodRule };
  if (input.declared) base = { ...input.declared, rule: 'declared' };
  else {
    let first = Infinity;
    let last = -Infinity;
    for (const row of input.rows) {
      if (row.at < first) first = row.at;
      if (row.at > last) last = row.at;
    }
    base = { ...wholeDays(first, last, zone), rule: 'row_days' };
  }
  // What the importer gave always wins; one bound given replaces that end only.
  if (from === undefined && to === undefined) return { ...base, timeZone: zone };
  return { start: from ?? base.start, end: to ?? base.end, rule: 'given', timeZone: zone };
}
