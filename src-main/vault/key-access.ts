/**
 * Reading the vault for the admin app: a page of keys with each code masked to its last characters
 * (decrypted here, in the main process; the whole code never leaves), an audited reveal or copy of one
 * code (the audit row is written in the same transaction that reads it), and a key's audit trail.
 * Staged keys (an import in progress) are not in the vault yet and are never listed or revealed.
 *
 * The reads are one SQL text each, run on either backend through a SqlReader (db/sql.ts). The reveal is
 * a write: SQLite's runs here (`revealKey`, inside the writer's transaction), PostgreSQL's in
 * pg/key-access.ts; both read with REVEAL_KEY_SQL and decide with `revealed` (which key may be shown,
 * the audit row it writes), so the two write the same row for the same reveal.
 */
import { writeAudit } from '../db/audit';
import { PRODUCT_NO } from '../db/product-no';
import type { SqlReader } from '../db/sql';
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';
import { EngineError } from '../lib/errors';
import type { AuditEntry } from '../payments/records';
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

/** What opening a sealed code takes: its product (the seal's associated data) and the sealed bytes. */
export interface SealedKey {
  /** A BLOB on SQLite, a BYTEA on PostgreSQL: a Buffer on both. */
  readonly fingerprint: Buffer;
  readonly sealed: Buffer;
  readonly product_id: string;
}

export function openCode(vault: VaultKeys, row: SealedKey): string {
  return open(vault.sealKey, row.sealed, keyAad(row.product_id, row.fingerprint)).toString('utf8');
}

/** A row of the page query: the filter's total on every row, the key's columns null when the page is empty. */
interface PageRow extends SealedKey {
  total: number;
  id: number | null;
  status: KeyStatus;
  order_id: string | null;
  imported_at: number | null;
}

/**
 * The page's SQL for a filter: the total and the page in ONE statement, so both come from one snapshot
 * on either backend (two reads could see a write land between them). The page is LEFT JOINed to the
 * one-row count: a page past the end is one row with the total and no key.
 */
function pageSql(filter: string): string {
  return `SELECT t.total, page.id, page.product_id, page.status, page.order_id, page.fingerprint, page.sealed, page.imported_at
    FROM (SELECT count(*) AS total FROM keys k WHERE ${filter}) t
    LEFT JOIN (
      SELECT k.id, p.id AS product_id, k.status, k.order_id, k.fingerprint, k.sealed,
             CASE WHEN i.state = 'committed' THEN i.updated_at END AS imported_at
      FROM keys k JOIN products p ON p.no = k.product_no LEFT JOIN imports i ON i.id = k.import_id
      WHERE ${filter} ORDER BY k.id DESC LIMIT ? OFFSET ?
    ) page ON 1 = 1
    ORDER BY page.id DESC`;
}

/** The page SQL and its parameters for a query (four SQL texts in all: with or without each filter). */
export function keyListStatement(query: KeyListQuery): { sql: string; params: (string | number)[] } {
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
  return { sql: pageSql(where.join(' AND ')), params: [...args, ...args, query.limit, query.offset] };
}

/** One page of keys, newest first, with the total that matches the filter. */
export async function listKeys(
  sql: SqlReader,
  vault: VaultKeys,
  query: KeyListQuery,
): Promise<{ total: number; rows: KeyListRow[] }> {
  const { sql: text, params } = keyListStatement(query);
  const found = await sql.all<PageRow>(text, params);
  const rows: KeyListRow[] = [];
  for (const row of found) {
    if (row.id === null) continue;
    rows.push({
      id: Number(row.id),
      productId: row.product_id,
      status: row.status,
      orderId: row.order_id,
      masked: maskCode(openCode(vault, row)),
      importedAt: row.imported_at === null ? null : Number(row.imported_at),
    });
  }
  return { total: Number(found[0]?.total ?? 0), rows };
}

/** The key a reveal reads, by id (one `?`): a staged key is not in the vault and is not found. */
export const REVEAL_KEY_SQL = `SELECT p.id AS product_id, k.fingerprint, k.sealed, k.status
  FROM keys k JOIN products p ON p.no = k.product_no WHERE k.id = ? AND k.status <> 'staged'`;

export interface RevealRow extends SealedKey {
  readonly status: KeyStatus;
}

const ACTIONS: Readonly<Record<RevealPurpose, string>> = { reveal: 'key.reveal', copy: 'key.copy' };

/**
 * What a reveal decides, on either backend: an unknown (or staged) key is not found, a purpose other than
 * reveal or copy is refused, and the audit row names the key, the purpose, its product and its status.
 * The whole code is never in the audit row.
 */
export function revealed(
  keyId: number,
  purpose: RevealPurpose,
  actor: string,
  row: RevealRow | undefined,
): { key: RevealRow; audit: AuditEntry } {
  if (!Object.hasOwn(ACTIONS, purpose))
    throw new EngineError('validation_failed', `a code is revealed or copied, not "${purpose}"`);
  if (!row) throw new EngineError('not_found', `no key ${keyId}`);
  const detail = { productId: row.product_id, status: row.status };
  return { key: row, audit: { actor, action: ACTIONS[purpose], subject: `key:${keyId}`, detail } };
}

/**
 * The whole code of one key on SQLite, for a person who asked to see or copy it. Call inside a write
 * transaction: the audit row and the read commit together, so no code is ever shown without its audit row.
 */
export function revealKey(
  db: WritableDB,
  vault: VaultKeys,
  keyId: number,
  purpose: RevealPurpose,
  actor: string,
  now: number,
): string {
  const row = stmt(db, REVEAL_KEY_SQL).get(keyId) as RevealRow | undefined;
  const { key, audit } = revealed(keyId, purpose, actor, row);
  const code = openCode(vault, key);
  writeAudit(db, now, audit.actor, audit.action, audit.subject, audit.detail);
  return code;
}

export interface KeyAuditRow {
  readonly id: number;
  readonly at: number;
  readonly actor: string;
  readonly action: string;
  readonly detail: Record<string, unknown>;
}

/** Audit rows about one key (`key:<id>`, or the bare id older rows used), oldest first; two `?`. */
export const KEY_AUDIT_SQL = 'SELECT id, at, actor, action, detail FROM audit WHERE subject IN (?, ?) ORDER BY id';

/** An audit row's detail as an object: an unreadable one (not JSON, not an object) is shown as empty. */
export function auditDetail(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // shown as empty
  }
  return {};
}

/** Every audit row about one key, oldest first. */
export async function keyAudit(sql: SqlReader, keyId: number): Promise<KeyAuditRow[]> {
  const rows = await sql.all<{ id: number; at: number; actor: string; action: string; detail: string }>(KEY_AUDIT_SQL, [
    `key:${keyId}`,
    String(keyId),
  ]);
  return rows.map((r) => ({
    id: Number(r.id),
    at: Number(r.at),
    actor: r.actor,
    action: r.action,
    detail: auditDetail(r.detail),
  }));
}
