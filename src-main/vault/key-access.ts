/**
 * Reading the vault for the admin app: a page of keys with each code masked to its last characters
 * (decrypted here, in the main process; the whole code never leaves), an audited reveal or copy of one
 * code (the audit row is written in the same transaction that reads it), and a key's audit trail.
 * Staged keys (an import in progress) are not in the vault yet and are never listed or revealed.
 */
import { stmt } from '../db/statements';
import type { ReadableDB, WritableDB } from '../db/types';
import { writeAudit } from '../db/audit';
import { EngineError } from '../lib/errors';
import { PRODUCT_NO } from '../db/product-no';
import { keyAad, open, type VaultKeys } from './crypto';

export type KeyStatus = 'available' | 'reserved' | 'sold' | 'burned';
export type RevealPurpose = 'reveal' | 'copy';

export interface KeyListQuery {
  readonly productId?: string;
  readonly status?: KeyStatus;
  readonly offset: number;
  readonly limit: number;
}

export interface KeyListRow {
  readonly id: number;
  readonly productId: string;
  readonly status: KeyStatus;
  readonly orderId: string | null;
  readonly masked: string;
  /** When the import that brought the key in committed (null for a key that came in another way). */
  readonly importedAt: number | null;
}

export const MASK = '••••••••';

/** The code masked to its last 4 characters (fewer for a short code: never more than half of it). */
export function maskCode(code: string): string {
  const chars = [...code];
  const shown = Math.min(4, Math.floor(chars.length / 2));
  return MASK + chars.slice(chars.length - shown).join('');
}

interface KeyRow {
  id: number;
  product_id: string;
  status: KeyStatus;
  order_id: string | null;
  fingerprint: Buffer;
  sealed: Buffer;
  imported_at: number | null;
}

function openCode(vault: VaultKeys, row: Pick<KeyRow, 'product_id' | 'fingerprint' | 'sealed'>): string {
  return open(vault.sealKey, row.sealed, keyAad(row.product_id, row.fingerprint)).toString('utf8');
}

/** One page of keys, newest first, with the total that matches the filter. */
export function listKeys(db: ReadableDB, vault: VaultKeys, query: KeyListQuery): { total: number; rows: KeyListRow[] } {
  const where: string[] = [`k.status <> 'staged'`];
  const args: (string | number)[] = [];
  if (query.productId !== undefined) {
    where.push(`k.product_no = ${PRODUCT_NO}`);
    args.push(query.productId);
  }
  if (query.status !== undefined) {
    where.push('k.status = ?');
    args.push(query.status);
  }
  const filter = where.join(' AND ');
  return db
    .transaction(() => {
      const total = stmt(db, `SELECT count(*) FROM keys k WHERE ${filter}`)
        .pluck()
        .get(...args) as number;
      const rows = stmt(
        db,
        `SELECT k.id, p.id AS product_id, k.status, k.order_id, k.fingerprint, k.sealed,
                CASE WHEN i.state = 'committed' THEN i.updated_at END AS imported_at
         FROM keys k JOIN products p ON p.no = k.product_no LEFT JOIN imports i ON i.id = k.import_id
         WHERE ${filter} ORDER BY k.id DESC LIMIT ? OFFSET ?`,
      ).all(...args, query.limit, query.offset) as KeyRow[];
      return {
        total,
        rows: rows.map((row) => ({
          id: row.id,
          productId: row.product_id,
          status: row.status,
          orderId: row.order_id,
          masked: maskCode(openCode(vault, row)),
          importedAt: row.imported_at,
        })),
      };
    })
    .deferred();
}

/**
 * The whole code of one key, for a person who asked to see or copy it. Call inside a write transaction:
 * the audit row and the read commit together, so no code is ever shown without its audit row.
 */
export function revealKey(
  db: WritableDB,
  vault: VaultKeys,
  keyId: number,
  purpose: RevealPurpose,
  actor: string,
  now: number,
): string {
  const row = stmt(
    db,
    `SELECT p.id AS product_id, k.fingerprint, k.sealed, k.status FROM keys k JOIN products p ON p.no = k.product_no WHERE k.id = ? AND k.status <> 'staged'`,
  ).get(keyId) as Pick<KeyRow, 'product_id' | 'fingerprint' | 'sealed' | 'status'> | undefined;
  if (!row) throw new EngineError('not_found', `no key ${keyId}`);
  const code = openCode(vault, row);
  writeAudit(db, now, actor, purpose === 'copy' ? 'key.copy' : 'key.reveal', `key:${keyId}`, {
    productId: row.product_id,
    status: row.status,
  });
  return code;
}

export interface KeyAuditRow {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly detail: Record<string, unknown>;
}

/** Every audit row about one key, oldest first. */
export function keyAudit(db: ReadableDB, keyId: number): KeyAuditRow[] {
  const rows = stmt(db, `SELECT id, at, actor, action, detail FROM audit WHERE subject IN (?, ?) ORDER BY id`).all(
    `key:${keyId}`,
    String(keyId),
  ) as { id: number; at: number; actor: string; action: string; detail: string }[];
  return rows.map((r) => {
    let detail: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(r.detail);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) detail = parsed as Record<string, unknown>;
    } catch {
      // an unreadable detail is shown as empty
    }
    return { id: r.id, at: r.at, actor: r.actor, action: r.action, detail };
  });
}
