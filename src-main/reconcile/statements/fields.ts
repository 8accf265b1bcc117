/**
 * Reading the cells of provider statements: WeChat's backtick prefixes and Alipay's trailing tabs,
 * amounts written "¥50.00", "+50.00", "-1,234.56" or in minor units, and local times in the provider's
 * zone, all normalised to integer minor units (shared/money.ts) and UTC milliseconds.
 */
import { parseMajorUnits } from '../../../shared/money';

/** Thrown for one bad cell; the parser adds the line number. */
export class CellError extends Error {
  override readonly name = 'CellError';
}

/** Strips the backtick WeChat puts before every field, Alipay's tab padding and an Excel ="..." wrapper. */
export function clean(cell: string | undefined): string {
  let value = (cell ?? '').trim();
  if (value.startsWith('`')) value = value.slice(1).trim();
  const excel = /^="(.*)"$/.exec(value);
  if (excel) value = excel[1]!;
  return value;
}

/** A signed amount in major units ("¥50.00", "-1,234.56", "+0.01") as minor units with its sign. */
export function majorAmount(text: string, currency: string): number {
  const raw = clean(text)
    .replace(/^[¥￥$€£]|[,\s]|元$/g, '')
    .replace(/^([+-])[¥￥$€£]/, '$1');
  const negative = raw.startsWith('-');
  const digits = raw.replace(/^[+-]/, '');
  const minor = parseMajorUnits(digits, currency);
  if (minor === null) throw new CellError(`"${text.trim().slice(0, 40)}" is not an amount in ${currency}`);
  return negative ? -minor : minor;
}

/** An amount already in minor units ("5000", "-5000"). */
export function minorAmount(text: string): number {
  const raw = clean(text);
  if (!/^[+-]?\d{1,15}$/.test(raw)) throw new CellError(`"${raw.slice(0, 40)}" is not a whole number of minor units`);
  return Number(raw);
}

const ZONES: Readonly<Record<string, string>> = {
  UTC: '+00:00',
  GMT: '+00:00',
  Z: '+00:00',
  PST: '-08:00',
  PDT: '-07:00',
  MST: '-07:00',
  MDT: '-06:00',
  CST: '-06:00',
  CDT: '-05:00',
  EST: '-05:00',
  EDT: '-04:00',
  AKST: '-09:00',
  AKDT: '-08:00',
  HST: '-10:00',
  BST: '+01:00',
  CET: '+01:00',
  CEST: '+02:00',
  EET: '+02:00',
  EEST: '+03:00',
  HKT: '+08:00',
  SGT: '+08:00',
  JST: '+09:00',
  KST: '+09:00',
  AEST: '+10:00',
  AEDT: '+11:00',
  IST: '+05:30',
};

/** A zone abbreviation (PST), "UTC+8", "GMT+08:00" or "+08:00" as a "+HH:MM" offset. */
export function zoneOffset(zone: string): string {
  const z = zone.trim().toUpperCase();
  if (ZONES[z]) return ZONES[z];
  const m = /^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$/.exec(z);
  if (m) return `${m[1]}${m[2]!.padStart(2, '0')}:${m[3] ?? '00'}`;
  throw new CellError(`unknown time zone "${zone.slice(0, 20)}"`);
}

/**
 * A time as UTC milliseconds. Accepts ISO 8601 with or without a zone, "2026-11-24 10:00(:00)",
 * "2026/11/24 10:00:00", "2026年11月24日 10:00:00" and US "11/24/2026" (with `us: true`) dates;
 * a time without a zone is read at `offset`.
 */
export function parseTime(text: string, offset = '+00:00', options: { us?: boolean } = {}): number {
  const raw = clean(text);
  let m =
    /^(\d{4})[-/年](\d{1,2})[-/月](\d{1,2})日?(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(
      raw,
    );
  let parts: { y: string; mo: string; d: string; h?: string; mi?: string; s?: string; frac?: string; zone?: string } | null =
    null;
  if (m) parts = { y: m[1]!, mo: m[2]!, d: m[3]!, h: m[4], mi: m[5], s: m[6], frac: m[7], zone: m[8] };
  else if (options.us && (m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(raw))) {
    parts = { y: m[3]!, mo: m[1]!, d: m[2]!, h: m[4], mi: m[5], s: m[6] };
  }
  if (!parts) throw new CellError(`"${raw.slice(0, 40)}" is not a date and time`);
  const zone =
    parts.zone === undefined
      ? offset
      : parts.zone.toUpperCase() === 'Z'
        ? '+00:00'
        : parts.zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const pad = (v: string | undefined, n = 2) => (v ?? '0').padStart(n, '0');
  const isoText = `${parts.y}-${pad(parts.mo)}-${pad(parts.d)}T${pad(parts.h)}:${pad(parts.mi)}:${pad(parts.s)}.${(parts.frac ?? '0').padEnd(3, '0').slice(0, 3)}${zone}`;
  const ms = Date.parse(isoText);
  // Date.parse rolls 2026-02-31 over to March: compare the fields back.
  if (!Number.isFinite(ms) || Number(parts.mo) < 1 || Number(parts.mo) > 12 || Number(parts.d) < 1 || Number(parts.d) > 31) {
    throw new CellError(`"${raw.slice(0, 40)}" is not a valid date`);
  }
  const local = new Date(ms + offsetMinutes(zone) * 60_000);
  if (local.getUTCDate() !== Number(parts.d)) throw new CellError(`"${raw.slice(0, 40)}" is not a valid date`);
  return ms;
}

function offsetMinutes(zone: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(zone);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}
