/** The audit record every reconciliation write leaves: who, what, on which subject, with what detail. */
import { stmt } from '../db/statements';
import type { WritableDB } from '../db/types';

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
