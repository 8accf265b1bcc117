/**
 * Order tickets (engine/tickets.ts): made inline or by the pool's thread, each is handed out once, its
 * sealed token opens only under its own order id, and the pool goes on working inline when no thread runs.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../src-main/engine/ids';
import {
  makeTicket,
  orderTokenAad,
  packedCount,
  packTickets,
  TicketPool,
  unpackTicket,
  type OrderTicket,
} from '../src-main/engine/tickets';
import { open } from '../src-main/vault/crypto';

const sealKey = randomBytes(32);

/** What makes a ticket good: an order id and token of the usual shape, the token's hash, the token sealed under the order id. */
function expectGood(ticket: OrderTicket): void {
  expect(ticket.orderId).toMatch(/^ord_[0-9a-z]{9}[A-Za-z0-9_-]{22}$/);
  expect(ticket.accessToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(ticket.tokenHash.equals(sha256(ticket.accessToken))).toBe(true);
  expect(open(sealKey, ticket.sealedToken, orderTokenAad(ticket.orderId)).toString()).toBe(ticket.accessToken);
  expect(() => open(sealKey, ticket.sealedToken, orderTokenAad(`${ticket.orderId}x`))).toThrow(/integrity/);
}

describe('order tickets', () => {
  it('pack into fixed records and unpack to the same tickets', () => {
    const packed = packTickets(sealKey, 5);
    expect(packedCount(packed)).toBe(5);
    const tickets = Array.from({ length: 5 }, (_, i) => unpackTicket(packed, i));
    for (const ticket of tickets) expectGood(ticket);
    expect(new Set(tickets.map((t) => t.orderId)).size).toBe(5);
    expect(new Set(tickets.map((t) => t.accessToken)).size).toBe(5);
    expectGood(makeTicket(sealKey));
  });

  it('come from the thread once it has started, each handed out once', async () => {
    const pool = new TicketPool(sealKey, { startAfter: 4, batch: 64 });
    try {
      const seen = new Set<string>();
      const take = (): void => {
        const ticket = pool.take();
        expect(seen.has(ticket.orderId)).toBe(false);
        seen.add(ticket.orderId);
        expectGood(ticket);
      };
      for (let i = 0; i < 5; i++) take();
      // The fifth ticket asked the thread for a batch; wait for it (a module worker starts in well under 20 s).
      for (let i = 0; i < 400 && pool.ready === 0; i++) await sleep(50);
      expect(pool.ready).toBe(64);
      for (let i = 0; i < 200; i++) take();
      expect(seen.size).toBe(205);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('keep coming inline when the thread is never started, and after the pool is closed', async () => {
    const pool = new TicketPool(sealKey, { startAfter: Infinity });
    for (let i = 0; i < 50; i++) expectGood(pool.take());
    expect(pool.ready).toBe(0);
    await pool.close();
    expectGood(pool.take());
  });
});
