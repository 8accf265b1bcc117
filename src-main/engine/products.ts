/** Products and their stock counters. */
import { isCurrency } from '../../shared/money';
import { PRODUCT_NO } from '../db/product-no';
import type { SqlReader } from '../db/sql';
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { newId } from './ids';

export interface Product {
  readonly id: string;
  readonly name: string;
  readonly price: { readonly amount: number; readonly currency: string };
  readonly onSale: boolean;
  readonly stock: Stock;
  readonly createdAt: number;
}

export interface Stock {
  readonly available: number;
  readonly reserved: number;
  readonly sold: number;
}

export interface ProductInput {
  readonly name: string;
  readonly price: { readonly amount: number; readonly currency: string };
  readonly onSale?: boolean;
}

export interface ProductRow {
  id: string;
  name: string;
  price_amount: number;
  currency: string;
  on_sale: number;
  available: number;
  reserved: number;
  sold: number;
  created_at: number;
}

export function toProduct(row: ProductRow): Product {
  return {
    id: row.id,
    name: row.name,
    price: { amount: row.price_amount, currency: row.currency },
    onSale: row.on_sale === 1,
    stock: { available: row.available, reserved: row.reserved, sold: row.sold },
    createdAt: row.created_at,
  };
}

export function checkInput(input: ProductInput): void {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 200) {
    throw new EngineError('validation_failed', 'a product name needs 1 to 200 characters', { field: 'name' });
  }
  // PostgreSQL's text holds no NUL: refused on both backends alike.
  if (name.includes('\0')) {
    throw new EngineError('validation_failed', 'a product name may not hold a NUL character', { field: 'name' });
  }
  if (!Number.isSafeInteger(input.price.amount) || input.price.amount < 0) {
    throw new EngineError('validation_failed', 'a price is a non-negative integer in minor units', { field: 'price.amount' });
  }
  if (!isCurrency(input.price.currency)) {
    throw new EngineError('validation_failed', 'a currency is an ISO 4217 code such as CNY or USD', { field: 'price.currency' });
  }
}

export function createProduct(db: WritableDB, input: ProductInput, now: number): Product {
  checkInput(input);
  const id = newId('prd', 9);
  stmt(db, `INSERT INTO products (id, name, price_amount, currency, on_sale, created_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
    id,
    input.name.trim(),
    input.price.amount,
    input.price.currency,
    input.onSale === false ? 0 : 1,
    now,
  );
  return requireProduct(db, id);
}

export function updateProduct(db: WritableDB, id: string, input: ProductInput): Product {
  checkInput(input);
  const result = stmt(db, 'UPDATE products SET name = ?, price_amount = ?, currency = ?, on_sale = ? WHERE id = ?').run(
    input.name.trim(),
    input.price.amount,
    input.price.currency,
    input.onSale === false ? 0 : 1,
    id,
  );
  if (result.changes === 0) throw new EngineError('product_not_found', `no product ${id}`);
  return requireProduct(db, id);
}

export function getProduct(db: ReadableDB, id: string): Product | null {
  const row = stmt(db, 'SELECT * FROM products WHERE id = ?').get(id) as ProductRow | undefined;
  return row ? toProduct(row) : null;
}

export function requireProduct(db: ReadableDB, id: string): Product {
  const product = getProduct(db, id);
  if (!product) throw new EngineError('product_not_found', `no product ${id}`);
  return product;
}

export function listProducts(db: ReadableDB, options: { onSaleOnly?: boolean } = {}): Product[] {
  const sql = options.onSaleOnly
    ? 'SELECT * FROM products WHERE on_sale = 1 ORDER BY created_at, id'
    : 'SELECT * FROM products ORDER BY created_at, id';
  return (stmt(db, sql).all() as ProductRow[]).map(toProduct);
}

/** Moves the stored counters; called in the same transaction as the key rows it mirrors. */
export function moveStock(db: WritableDB, productId: string, delta: Partial<Record<keyof Stock, number>>): void {
  stmt(db, 'UPDATE products SET available = available + ?, reserved = reserved + ?, sold = sold + ? WHERE id = ?').run(
    delta.available ?? 0,
    delta.reserved ?? 0,
    delta.sold ?? 0,
    productId,
  );
}

/**
 * The first `count` keys of a product that are on sale, oldest first. The count is written into the SQL
 * (one cached statement per count): a bound LIMIT makes SQLite re-prepare the statement at every
 * execution, several times the cost of the lookup itself on the purchase path.
 */
export function firstAvailableKeys(db: ReadableDB, productId: string, count: number): number[] {
  if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`key count must be a positive integer, not ${count}`);
  return stmt(db, `SELECT id FROM keys WHERE product_no = ${PRODUCT_NO} AND status = 'available' ORDER BY id LIMIT ${count}`)
    .pluck()
    .all(productId) as number[];
}

/** Stock counted from the key rows themselves, by status (one `?`: the product's id); either backend's SQL. */
export const COUNT_STOCK_SQL = `SELECT status, count(*) AS n FROM keys WHERE product_no = ${PRODUCT_NO} GROUP BY status`;

/** COUNT_STOCK_SQL's rows as a Stock (a count is a BIGINT on PostgreSQL: a number, or a string if read raw). */
function toStock(rows: readonly { status: string; n: number | string }[]): Stock {
  const count = (status: string): number => Number(rows.find((r) => r.status === status)?.n ?? 0);
  return { available: count('available'), reserved: count('reserved'), sold: count('sold') };
}

/** Stock counted from the key rows themselves (what the stored counters must agree with), on SQLite. */
export function countStock(db: ReadableDB, productId: string): Stock {
  return toStock(stmt(db, COUNT_STOCK_SQL).all(productId) as { status: string; n: number }[]);
}

/** countStock on either backend (the admin app's stock breakdown). */
export async function countStockOn(sql: SqlReader, productId: string): Promise<Stock> {
  return toStock(await sql.all<{ status: string; n: number }>(COUNT_STOCK_SQL, [productId]));
}
