/**
 * Idempotency records of `orders.create`: the key's check, the record written with a reservation (its
 * answer, and the access token sealed under the order id), the lookup of earlier records, and the replay
 * of a stored answer, including records in the formats of older migrations.
 */
import type { Result } from '../../shared/errors';
import type { RowsStatement } from '../db/statements';
import type { ReadableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import { open, VaultCryptoError, type VaultKeys } from '../vault/crypto';
import { orderRow, toView, type CreatedOrder, type OrderRow, type OrderView } from './order-rows';
import { orderTokenAad } from './tickets';

export function checkIdempotencyKey(key: string): void {
  if (key.length < 1 || key.length > 255 || !/^[\x20-\x7e]+$/.test(key)) {
    throw new EngineError('validation_failed', 'an idempotency key is 1 to 255 printable ASCII characters', {
      field: 'idempotencyKey',
    });
  }
}

export const IDEMPOTENCY_SCOPE = 'orders.create';
/** Records before migration 5 seal the whole response under this associated data. */
const legacyResponseAad = (key: string): string => `oncekey/idempotency/${IDEMPOTENCY_SCOPE}/${key}`;
/** Records from migration 5 until order tickets seal the access token under the idempotency key. */
const legacyTokenAad = (key: string): string => `oncekey/idempotency/${IDEMPOTENCY_SCOPE}/token/${key}`;

/**
 * An idempotency record's answer: `response` is the answer as JSON (a created order's rebuilt from its row,
 * see `storedResponse`), or null for records sealed whole (before migration 5).
 */
export interface StoredOutcome {
  readonly response: string | null;
  readonly sealed: Buffer;
}

/** A refused request has no token: its record seals nothing. */
export const NOTHING_SEALED = Buffer.alloc(0);

/** The order with its access token (Object.assign: on Node 20 a spread of these objects is several times slower). */
export const withToken = (order: OrderView, accessToken: string): CreatedOrder => Object.assign({}, order, { accessToken });

/** A stored access token: sealed under its order id, or (records made before order tickets) under the idempotency key. */
function openToken(vault: VaultKeys, sealed: Buffer, orderId: string, key: string): string {
  try {
    return open(vault.sealKey, sealed, orderTokenAad(orderId)).toString();
  } catch (error) {
    if (!(error instanceof VaultCryptoError)) throw error;
    return open(vault.sealKey, sealed, legacyTokenAad(key)).toString();
  }
}

/** The answer the first request with idempotency key `key` got, from its stored record (see `storedResponse`). */
export function replayStored(vault: VaultKeys, key: string, stored: StoredOutcome): Result<CreatedOrder> {
  const { response, sealed } = stored;
  if (response === null)
    return JSON.parse(open(vault.sealKey, sealed, legacyResponseAad(key)).toString()) as Result<CreatedOrder>;
  const parsed = JSON.parse(response) as Result<OrderView>;
  if (!parsed.ok) return parsed;
  const accessToken = openToken(vault, sealed, parsed.value.id, key);
  return { ok: true, value: withToken(parsed.value, accessToken) };
}

export const INSERT_OUTCOMES: RowsStatement = {
  sql: (list) => `INSERT INTO idempotency (scope, key, fingerprint, status, order_id, sealed_response, response, created_at)
    VALUES ${list}`,
  tuple: `('${IDEMPOTENCY_SCOPE}', ?, ?, ?, ?, ?, ?, ?)`,
  width: 7,
};
export const FIND_OUTCOMES: RowsStatement = {
  sql: (list) => `SELECT key, fingerprint, sealed_response, response, order_id FROM idempotency
    WHERE scope = '${IDEMPOTENCY_SCOPE}' AND key IN (${list})`,
  tuple: '?',
  width: 1,
};

export interface OutcomeRow {
  readonly key: string;
  readonly fingerprint: Buffer;
  readonly sealed_response: Buffer;
  readonly response: string | null;
  readonly order_id: string | null;
}

/**
 * What a created order's record stores as its `response`: nothing, because the answer was the order as
 * created, which its row still holds (id, product, quantity, amount, e-mail and both times never change).
 * Records written before this stored the same answer as JSON, and still replay as stored.
 */
export const CREATED_ORDER = '';

/** The answer a created order's record stands for: the order as it was created, rebuilt from its row. */
export function createdResponse(order: OrderRow): string {
  const created = Object.assign({}, order, {
    status: 'reserved' as const,
    review_reason: null,
    paid_at: null,
    delivered_at: null,
  });
  return JSON.stringify({ ok: true, value: toView(created) });
}

/** A record's answer as JSON (null: sealed whole, before migration 5). */
export function storedResponse(db: ReadableDB, row: OutcomeRow): string | null {
  if (row.response !== CREATED_ORDER) return row.response;
  const order = row.order_id === null ? undefined : orderRow(db, row.order_id);
  if (!order) throw new Error(`the idempotency record of a created order names no order (${row.order_id})`);
  return createdResponse(order);
}
