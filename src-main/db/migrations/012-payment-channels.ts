/**
 * Migration 12: payment channels. The owner's channel settings (the secrets sealed by the vault like
 * codes), one checkout per order and channel with the schedule of its status queries, and payments that
 * name the channel they came from, the gateway's own trade number and whether a notification or a
 * query brought them.
 *
 * `payments` is rebuilt because its `source` CHECK named only the webhook and manual payments. Nothing
 * references it, so foreign keys stay on; its rows keep their ids.
 */
import type { WritableDB } from '../types';

export const version = 12;

export function up(db: WritableDB): void {
  db.exec(`
    CREATE TABLE payment_channels (
      name TEXT PRIMARY KEY CHECK (name IN ('epay', 'alipay', 'wechatpay', 'stripe')),
      enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
      -- The fields that are not secret, as JSON.
      settings TEXT NOT NULL,
      -- The secret fields as JSON, AES-256-GCM under the vault's seal key (the channel's name as associated data).
      sealed BLOB NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT;

    -- What a buyer was offered to pay an order through one channel. One per order and channel: asking
    -- again returns the same payment. next_query_at is when the poller asks the channel next (NULL: never
    -- again); a poller claims a due row by moving it forward in the same write, so processes sharing the
    -- shop never query one checkout twice at once.
    CREATE TABLE checkouts (
      id INTEGER PRIMARY KEY,
      order_id TEXT NOT NULL REFERENCES orders (id),
      channel TEXT NOT NULL CHECK (channel IN ('epay', 'alipay', 'wechatpay', 'stripe')),
      method TEXT NOT NULL,
      amount INTEGER NOT NULL CHECK (amount >= 0),
      currency TEXT NOT NULL CHECK (length(currency) = 3),
      redirect_url TEXT,
      qr_code TEXT,
      -- The gateway's id for this payment when it gives one at creation (a Stripe session id).
      reference TEXT,
      state TEXT NOT NULL CHECK (state IN ('open', 'paid', 'closed')),
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      next_query_at INTEGER,
      queries INTEGER NOT NULL DEFAULT 0 CHECK (queries >= 0),
      last_query_at INTEGER,
      last_query_status TEXT,
      UNIQUE (order_id, channel),
      CHECK (state = 'open' OR next_query_at IS NULL)
    ) STRICT;
    CREATE INDEX checkouts_due ON checkouts (next_query_at) WHERE next_query_at IS NOT NULL;

    CREATE TABLE payments_v12 (
      id INTEGER PRIMARY KEY,
      event_id TEXT NOT NULL UNIQUE,
      order_id TEXT NOT NULL,
      amount INTEGER NOT NULL,
      currency TEXT NOT NULL,
      source TEXT NOT NULL CHECK (source IN ('webhook', 'manual', 'epay', 'alipay', 'wechatpay', 'stripe')),
      outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'needs_review', 'ignored')),
      received_at INTEGER NOT NULL,
      -- A channel payment: the gateway's trade number, and whether a notification or a query brought it.
      trade_no TEXT,
      via TEXT CHECK (via IN ('notify', 'query')),
      CHECK ((source IN ('webhook', 'manual')) = (trade_no IS NULL))
    ) STRICT;
    INSERT INTO payments_v12 (id, event_id, order_id, amount, currency, source, outcome, received_at)
      SELECT id, event_id, order_id, amount, currency, source, outcome, received_at FROM payments ORDER BY id;
    DROP TABLE payments;
    ALTER TABLE payments_v12 RENAME TO payments;
    CREATE INDEX payments_order ON payments (order_id, outcome);
    CREATE INDEX payments_trade ON payments (trade_no) WHERE trade_no IS NOT NULL;
  `);
}
