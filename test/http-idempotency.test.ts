/**
 * Idempotent order creation over HTTP: a replay gets the stored status and body with
 * `Idempotent-Replayed: true` and changes nothing; a reused key with another body gets 422; a key whose
 * first request is still being processed gets 409; the header is read quoted or bare.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshKey, startShop, type HttpShop } from './helpers/http';

let shop: HttpShop;
beforeAll(async () => {
  shop = await startShop({ keys: 20 });
});
afterAll(async () => {
  await shop.close();
});

const body = (email = 'buyer@example.com', quantity = 1) => ({ productId: shop.productId, quantity, email });
const post = (key: string | undefined, b: unknown, headers: Record<string, string> = {}) =>
  shop.send('/api/v1/orders', {
    method: 'POST',
    headers: { ...(key === undefined ? {} : { 'idempotency-key': key }), ...headers },
    body: b,
  });
const codeOf = (res: { json: unknown }): string => (res.json as { code: string }).code;

describe('idempotent order creation', () => {
  it('replays the stored 201 byte for byte with Idempotent-Replayed: true and holds nothing more', async () => {
    const key = freshKey();
    const first = await post(key, body());
    expect(first.status).toBe(201);
    const stock = shop.engine.getProduct(shop.productId)?.stock;
    const again = await post(key, body());
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);
    expect(shop.engine.getProduct(shop.productId)?.stock).toEqual(stock);
  });

  it('replays a stored sold_out too', async () => {
    const key = freshKey();
    const first = await post(key, body('many@example.com', 999));
    expect(first.status).toBe(409);
    expect(codeOf(first)).toBe('sold_out');
    const again = await post(key, body('many@example.com', 999));
    expect(again.status).toBe(409);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);
  });

  it('refuses the same key with a different body: 422 idempotency_key_reused', async () => {
    const key = freshKey();
    expect((await post(key, body('a@example.com'))).status).toBe(201);
    const reused = await post(key, body('b@example.com'));
    expect(reused.status).toBe(422);
    expect(codeOf(reused)).toBe('idempotency_key_reused');
  });

  it('answers 409 idempotency_key_in_flight while the first request is still being processed', async () => {
    // Another connection holds the write lock, so the first request stays in flight (retrying).
    const blocker = new Database(join(shop.dir, 'shop.db'));
    blocker.pragma('busy_timeout = 2000');
    blocker.prepare('BEGIN IMMEDIATE').run();
    const key = freshKey();
    let first: ReturnType<typeof post>;
    try {
      first = post(key, body('slow@example.com'));
      await new Promise((r) => setTimeout(r, 150));
      const second = await post(key, body('slow@example.com'));
      expect(second.status).toBe(409);
      expect(codeOf(second)).toBe('idempotency_key_in_flight');
    } finally {
      blocker.prepare('COMMIT').run();
      blocker.close();
    }
    expect((await first).status).toBe(201);
    const third = await post(key, body('slow@example.com'));
    expect(third.status).toBe(201);
    expect(third.headers['idempotent-replayed']).toBe('true');
  });

  it('reads the key quoted (structured field) or bare as the same key', async () => {
    const key = freshKey();
    const quoted = await post(`"${key}"`, body('q@example.com'));
    expect(quoted.status).toBe(201);
    const bare = await post(key, body('q@example.com'));
    expect(bare.status).toBe(201);
    expect(bare.headers['idempotent-replayed']).toBe('true');
    expect(bare.text).toBe(quoted.text);
  });

  it.each([
    ['an empty key', ''],
    ['an empty quoted key', '""'],
    ['a key of 256 characters', 'k'.repeat(256)],
    ['a key with a non-ASCII character', 'cl\xe9'],
    ['a key with a control character', 'a\tb'],
    ['a quoted key with a stray quote', '"a"b"'],
  ])('refuses %s with 400 idempotency_key_missing', async (_label, key) => {
    const res = await post(key, body());
    expect(res.status).toBe(400);
    expect(codeOf(res)).toBe('idempotency_key_missing');
  });

  it('accepts a key of exactly 255 printable characters', async () => {
    const key = `${freshKey()}~`.padEnd(255, '!');
    expect((await post(key, body('long@example.com'))).status).toBe(201);
  });

  it('refuses two Idempotency-Key headers in one request', async () => {
    const res = await shop.send('/api/v1/orders', {
      method: 'POST',
      headers: ['idempotency-key', 'one', 'idempotency-key', 'two', 'content-type', 'application/json'],
      body: JSON.stringify(body()),
    });
    expect(res.status).toBe(400);
    expect(codeOf(res)).toBe('idempotency_key_missing');
  });
});
