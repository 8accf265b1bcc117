/**
 * The audit trail: one row for every action a person took (a setting changed, an order marked paid or
 * refunded, a code revealed, a dispute resolved), saying who, what, on which subject, with what detail.
 * Written in the caller's transaction, with the change it records.
 */
import { stmt } from './statements';
import type { WritableDB } from './types';

export function writeAudit(
  db: WritableDB,
  now: number,
  actor: string,
  action: string,
  subject: string,
  detail: Record<string, unknown>,
): void {
  stmt(db, 'INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)').run(
    now,
    actor,
    action,
    subject,
    JSON.stringify(detail),
  );
}
