/**
 * Money as integer minor units plus an ISO 4217 currency: `{ amount: 5000, currency: 'CNY' }` is 50.00 CNY.
 * Floats never carry money in OnceKey; decimal strings are parsed digit by digit.
 */
export interface Money {
  /** Integer amount in the currency's minor unit (fen, cents, yen). */
  readonly amount: number;
  /** ISO 4217 code, three upper-case letters. */
  readonly currency: string;
}

/** Currencies whose minor unit is not 1/100. Everything else has two decimals. */
const EXPONENTS: Readonly<Record<string, number>> = {
  JPY: 0,
  KRW: 0,
  VND: 0,
  CLP: 0,
  ISK: 0,
  HUF: 2,
  TWD: 2,
  BHD: 3,
  KWD: 3,
  OMR: 3,
  JOD: 3,
  TND: 3,
  IQD: 3,
  LYD: 3,
};

/** True when `code` looks like an ISO 4217 currency code. */
export function isCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code);
}

/** Number of decimals of the currency's minor unit (2 unless listed otherwise). */
export function currencyExponent(currency: string): number {
  return EXPONENTS[currency] ?? 2;
}

/**
 * Parses a decimal string in major units ("50", "50.5", "50.00") into minor units.
 * Returns null for anything that is not a plain non-negative decimal with at most the currency's decimals.
 */
export function parseMajorUnits(text: string, currency: string): number | null {
  const exponent = currencyExponent(currency);
  const match = /^(\d{1,13})(?:\.(\d+))?$/.exec(text.trim());
  if (!match) return null;
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  if (fraction.length > exponent) return null;
  return Number(whole) * 10 ** exponent + Number(fraction.padEnd(exponent, '0') || '0');
}

/** Formats minor units as a plain decimal string in major units: 5000 CNY -> "50.00". */
export function formatMajorUnits(money: Money): string {
  const exponent = currencyExponent(money.currency);
  const sign = money.amount < 0 ? '-' : '';
  const digits = String(Math.abs(money.amount)).padStart(exponent + 1, '0');
  if (exponent === 0) return sign + digits;
  return `${sign}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/** True when both amounts are the same integer in the same currency. */
export function sameMoney(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}
