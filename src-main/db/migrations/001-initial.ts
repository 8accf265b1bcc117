/**
 * Migration 1: products, the encrypted key vault, orders, deliveries, payments, idempotency records and
 * the hash-chained ledger. The schema forbids the bad states itself (CHECKs, UNIQUE deliveries,
 * triggers that keep holds tied to live orders) so that a wrong line of code fails loudly instead of
 * overselling.
 */
import type { WritableDB } from '../types';

export const version = 1;

export function up(db: WritableDB): void {
  db.exec(`
    CREATE TABLE meta (
      key TEXT PRIMARY KEY,
      value BLOB NOT NULL
    ) STRICT;

    -- The data key, wrapped once per way of unlocking it (OS secret store, passphrase).
    CREATE TABLE vault_wraps (
      kind TEXT PRIMARY KEY CHECK (kind IN ('secret_store', 'passphrase')),
      salt BLOB,
      params TEXT,
      wrapped BLOB NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE products (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      price_amount INTEGER NOT NULL CHECK (price_amount >= 0),
      currency TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
      on_sale INTEGER NOT NULL DEFAULT 1 CHECK (on_sale IN (0, 1)),
      -- Stored counters, kept in the same transaction as every key movement; reconciliation
      -- compares them with the rows.
      available INTEGER NOT NULL DEFAULT 0 CHECK (available >= 0),
      reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
      sold INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0),
      created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE imports (
      id INTEGER PRIMARY KEY,
      product_id TEXT NOT NULL REFERENCES products (id),
      state TEXT NOT NULL CHECK (state IN ('staging', 'committed', 'discarded')),
      source TEXT NOT NULL,
      accepted INTEGER NOT NULL DEFAULT 0,
      duplicates INTEGER NOT NULL DEFAULT 0,
      rejected INTEGER NOT NULL DEFAULT 0,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE orders (
      id TEXT PRIMARY KEY,
      product_id TEXT NOT NULL REFERENCES products (id),
      quantity INTEGER NOT NULL CHECK (quantity >= 1),
      amount INTEGER NOT NULL CHECK (amount >= 0),
      currency TEXT NOT NULL CHECK (length(currency) = 3),
      email TEXT NOT NULL,
      status TEXT NOT NULL
        CHECK (status IN ('reserved', 'paid', 'delivered', 'expired', 'refunded', 'needs_review')),
      review_reason TEXT,
      access_token_hash BLOB NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      paid_at INTEGER,
      delivered_at INTEGER,
      updated_at INTEGER NOT NULL,
      CHECK (status <> 'needs_review' OR review_reason IS NOT NULL),
      CHECK (status NOT IN ('paid', 'delivered') OR paid_at IS NOT NULL)
    ) STRICT;
    CREATE INDEX orders_expiry ON orders (expires_at) WHERE status = 'reserved';
    CREATE INDEX orders_email ON orders (email);
    CREATE INDEX orders_review ON orders (updated_at) WHERE status = 'needs_review';

    -- One row per code. The code itself is AES-256-GCM ciphertext; fingerprint is a keyed HMAC of
    -- the code for dedupe and lookup without decrypting.
    CREATE TABLE keys (
      id INTEGER PRIMARY KEY,
      product_id TEXT NOT NULL REFERENCES products (id),
      import_id INTEGER REFERENCES imports (id),
      fingerprint BLOB NOT NULL,
      sealed BLOB NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('staged', 'available', 'reserved', 'sold', 'burned')),
      order_id TEXT REFERENCES orders (id),
      updated_at INTEGER NOT NULL,
      UNIQUE (product_id, fingerprint),
      CHECK (
        (status IN ('staged', 'available') AND order_id IS NULL) OR
        (status IN ('reserved', 'sold') AND order_id IS NOT NULL) OR
        status = 'burned'
      )
    ) STRICT;
    CREATE INDEX keys_available ON keys (product_id, id) WHERE status = 'available';
    CREATE INDEX keys_order ON keys (order_id) WHERE order_id IS NOT NULL;
    CREATE INDEX keys_import ON keys (import_id) WHERE status = 'staged';

    -- A hold must belong to an order that can still hold keys.
    CREATE TRIGGER keys_hold_needs_live_order
    BEFORE UPDATE OF status, order_id ON keys
    WHEN NEW.status = 'reserved'
      AND (SELECT status FROM orders WHERE id = NEW.order_id) NOT IN ('reserved', 'needs_review')
    BEGIN
      SELECT RAISE(ABORT, 'a held key must reference a reserved order');
    END;

    -- An order cannot leave the holding states while it still holds keys.
    CREATE TRIGGER orders_release_holds_first
    BEFORE UPDATE OF status ON orders
    WHEN NEW.status NOT IN ('reserved', 'needs_review')
      AND EXISTS (SELECT 1 FROM keys WHERE order_id = NEW.id AND status = 'reserved')
    BEGIN
      SELECT RAISE(ABORT, 'an order must release or sell its held keys before it leaves reserved');
    END;

    -- A key is delivered to at most one order at a time; a returned delivery keeps its row.
    CREATE TABLE deliveries (
      id INTEGER PRIMARY KEY,
      key_id INTEGER NOT NULL REFERENCES keys (id),
      order_id TEXT NOT NULL REFERENCES orders (id),
      delivered_at INTEGER NOT NULL,
      returned_at INTEGER
    ) STRICT;
    CREATE UNIQUE INDEX deliveries_one_live_per_key ON deliveries (key_id) WHERE returned_at IS NULL;
    CREATE INDEX deliveries_order ON deliveries (order_id);

    -- Payments received (webhook events or manual confirmations). The event id is UNIQUE, so the
    -- same gateway event can never take effect twice.
    CREATE TABLE payments (
      id INTEGER PRIMARY KEY,
      event_id TEXT NOT NULL UNIQUE,
      order_id TEXT NOT NULL,
      amount INTEGER NOT NULL,
      currency TEXT NOT NULL,
      source TEXT NOT NULL CHECK (source IN ('webhook', 'manual')),
      outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'needs_review', 'ignored')),
      received_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX payments_order ON payments (order_id);

    -- Idempotency records: the outcome of the first request, sealed (it holds the order's access
    -- token), replayed for the same request and refused for a different one.
    CREATE TABLE idempotency (
      scope TEXT NOT NULL,
      key TEXT NOT NULL,
      fingerprint BLOB NOT NULL,
      status INTEGER NOT NULL,
      order_id TEXT REFERENCES orders (id),
      sealed_response BLOB NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (scope, key)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX idempotency_age ON idempotency (created_at);

    -- Hash-chained ledger of every stock movement and order transition.
    CREATE TABLE ledger (
      seq INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      kind TEXT NOT NULL
        CHECK (kind IN ('import', 'reserve', 'release', 'sell', 'refund', 'burn', 'review')),
      product_id TEXT NOT NULL,
      order_id TEXT,
      key_ids TEXT NOT NULL,
      detail TEXT NOT NULL,
      prev_hash BLOB NOT NULL,
      hash BLOB NOT NULL
    ) STRICT;

    -- Who did what by hand (reveals, manual payments, refunds).
    CREATE TABLE audit (
      id INTEGER PRIMARY KEY,
      at INTEGER NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      subject TEXT NOT NULL,
      detail TEXT NOT NULL
    ) STRICT;
  `);
}
