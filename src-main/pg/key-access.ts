/**
 * Revealing a code on PostgreSQL: vault/key-access.ts's `revealKey` in one transaction of the caller's
 * (PgShop.write). It reads the key with the same SQL (REVEAL_KEY_SQL), decides with the same `revealed`
 * (unknown or staged key, purpose, the audit row), opens the code with the shop's vault and writes the
 * audit row; the code is returned only once that row has committed with the read.
 */
import type { VaultKeys } from '../vault/crypto';
import { openCode, REVEAL_KEY_SQL, revealed, type RevealPurpose, type RevealRow } from '../vault/key-access';
import type { Queryable } from './connect';
import { writeAuditPg } from './order-writes';
import { toPostgres } from './sql';

export async function revealKeyPg(
  client: Queryable,
  now: number,
  vault: VaultKeys,
  keyId: number,
  purpose: RevealPurpose,
  actor: string,
): Promise<string> {
  const row = (await client.query<RevealRow>(toPostgres(REVEAL_KEY_SQL), [keyId])).rows[0];
  const { key, audit } = revealed(keyId, purpose, actor, row);
  const code = openCode(vault, key);
  await writeAuditPg(client, now, audit.actor, audit.action, audit.subject, audit.detail);
  return code;
}
