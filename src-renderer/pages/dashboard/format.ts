/** Number, money and time formatting for the stock pages, in the viewer's language. */
import { formatMajorUnits, type Money } from '../../../shared/money';

export function formatCount(value: number, language: string): string {
  return new Intl.NumberFormat(language).format(value);
}

/** Money from integer minor units, with the currency's code or symbol; never through a float sum. */
export function formatMoney(money: Money, language: string): string {
  const major = formatMajorUnits(money);
  try {
    // Intl formats the decimal string itself (a string argument keeps every digit).
    const parts = new Intl.NumberFormat(language, { style: 'currency', currency: money.currency }).formatToParts(0);
    const symbol = parts.find((part) => part.type === 'currency')?.value ?? money.currency;
    const symbolFirst = parts.findIndex((part) => part.type === 'currency') < parts.findIndex((part) => part.type === 'integer');
    return symbolFirst ? `${symbol}${major}` : `${major} ${symbol}`;
  } catch {
    return `${major} ${money.currency}`;
  }
}

export function formatTime(iso: string, language: string): string {
  return new Intl.DateTimeFormat(language, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

/** A bucket label on a chart axis: the hour for hourly buckets, the day otherwise. */
export function formatBucket(iso: string, bucket: 'hour' | 'day', language: string): string {
  const options: Intl.DateTimeFormatOptions =
    bucket === 'hour' ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric' };
  return new Intl.DateTimeFormat(language, options).format(new Date(iso));
}
