/**
 * Migration 2: reconciliation. Imported payment-provider statements and their rows (normalised to minor
 * units and UTC), links a support agent made from a provider payment to an order, and resolution records
 * keyed by a finding's stable id (kind + subject) so a resolution sticks to its finding across runs.
 * Also indexes the ledger and the audit trail by order, for the dispute timeline.
 */
import type { WritableDB } from '../types';

export const version = 2;

export function up(db: WritableDB): void {
  db.exec(`
    CREATE TABLE statements (
      id INTEGER PRIMARY KEY,
      format TEXT NOT NULL CHECK (format IN ('wechat', 'alipay', 'stripe', 'paypal', 'generic', 'custom')),
      source TEXT NOT NULL,
      rows INTEGER NOT NULL CHECK (rows >= 0),
      period_start INTEGER,
      period_end INTEGER,
      imported_at INTEGER NOT NULL,
      actor TEXT NOT NULL
    ) STRICT;

    -- One payment or refund the provider reports. order_id is the merchant order number the provider
    -- echoed (may be wrong or missing); ref_payment_id names the payment a refund belongs to.
    CREATE TABLE statement_rows (
      id INTEGER PRIMARY KEY,
      statement_id INTEGER NOT NULL REFERENCES statements (id),
      line INTEGER NOT NULL,
      payment_id TEXT NOT NULL,
      ref_payment_id TEXT,
      order_id TEXT,
      kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
      amount INTEGER NOT NULL CHECK (amount >= 0),
      currency TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
      at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX statement_rows_statement ON statement_rows (statement_id);
    CREATE INDEX statement_rows_order ON statement_rows (order_id) WHERE order_id IS NOT NULL;
    CREATE INDEX statement_rows_payment ON statement_rows (payment_id);

    -- A provider payment a support agent tied to an order by hand (overrides the row's order_id).
    CREATE TABLE payment_links (
      payment_id TEXT PRIMARY KEY,
      order_id TEXT NOT NULL REFERENCES orders (id),
      actor TEXT NOT NULL,
      note TEXT NOT NULL,
      linked_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX payment_links_order ON payment_links (order_id);

    -- A finding someone resolved: the finding as it was (JSON), what was done, by whom, why.
    CREATE TABLE finding_resolutions (
      finding_id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      action TEXT NOT NULL,
      note TEXT NOT NULL,
      actor TEXT NOT NULL,
      finding TEXT NOT NULL,
      resolved_at INTEGER NOT NULL
    ) STRICT;

    CREATE INDEX ledger_order ON ledger (order_id) WHERE order_id IS NOT NULL;
    CREATE INDEX audit_subject ON audit (subject);
  `);
}
