/**
 * The simulator's scratch database: one SQLite file per run in a temporary folder, with the simplest
 * schema the strategies need (one item with a stock column and a version, its keys, orders, an atomic
 * counter, a lock lease, idempotency tokens and a stock cache). Deliberately without the shop schema's
 * protections (no UNIQUE key per order): the point is to show what each strategy alone allows.
 */
import Database from 'better-sqlite3';
import type { FinalState } from '../../shared/sim';
import type { ReadableDB, WritableDB } from '../db/types';

export const ITEM_ID = 1;

const SCHEMA = `
CREATE TABLE items (id INTEGER PRIMARY KEY, stock INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE TABLE keys (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'available', order_id INTEGER) STRICT;
CREATE TABLE orders (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, buyer INTEGER NOT NULL, attempt INTEGER NOT NULL, key_id INTEGER, token TEXT) STRICT;
CREATE TABLE counter (item_id INTEGER PRIMARY KEY, n INTEGER NOT NULL) STRICT;
CREATE TABLE lease (item_id INTEGER PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL) STRICT;
CREATE TABLE idempotency (token TEXT PRIMARY KEY, order_id INTEGER NOT NULL) STRICT;
CREATE TABLE stock_cache (item_id INTEGER PRIMARY KEY, stock INTEGER NOT NULL, refreshed_at INTEGER NOT NULL) STRICT;
`;

export interface ConnectionOptions {
  /** `normal` for scratch runs (a scratch file need not survive a power cut; the locking is the same). */
  readonly synchronous?: 'normal' | 'full' | 'off';
  readonly busyTimeoutMs?: number;
}

export function openScratch(file: string, options: ConnectionOptions = {}): WritableDB {
  const db = new Database(file) as WritableDB;
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 0}`);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${(options.synchronous ?? 'normal').toUpperCase()}`);
  return db;
}

/** Creates the scratch file: one item with `keys` keys in stock, the counter at the same number. */
export function createScratch(file: string, keys: number, options: ConnectionOptions = {}): void {
  const db = openScratch(file, options);
  try {
    db.exec(SCHEMA);
    db.transaction(() => {
      db.prepare('INSERT INTO items (id, stock) VALUES (?, ?)').run(ITEM_ID, keys);
      db.prepare('INSERT INTO counter (item_id, n) VALUES (?, ?)').run(ITEM_ID, keys);
      const key = db.prepare('INSERT INTO keys (item_id) VALUES (?)');
      for (let i = 0; i < keys; i++) key.run(ITEM_ID);
    }).immediate();
  } finally {
    db.close();
  }
}

/** The state the checker and the reconciliation read after a run. */
export function readFinalState(db: ReadableDB): FinalState {
  const item = db.prepare('SELECT stock FROM items WHERE id = ?').get(ITEM_ID) as { stock: number };
  const counter = db.prepare('SELECT n FROM counter WHERE item_id = ?').get(ITEM_ID) as { n: number } | undefined;
  const sold = db.prepare("SELECT count(*) AS n FROM keys WHERE status = 'sold'").get() as { n: number };
  const orders = db
    .prepare('SELECT id, buyer, attempt, key_id AS keyId, token FROM orders ORDER BY id')
    .all() as FinalState['orders'];
  return { stock: item.stock, counter: counter?.n ?? null, keysSold: sold.n, orders };
}
