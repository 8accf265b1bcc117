/** Test helpers: a fresh shop in a temporary folder, seeded with keys without going through the import parser. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stmt } from '../../src-main/db/statements';
import type { WritableDB } from '../../src-main/db/types';
import { Engine, type EngineOptions } from '../../src-main/engine/engine';
import { appendLedger } from '../../src-main/engine/ledger';
import { moveStock } from '../../src-main/engine/products';
import { fingerprint, keyAad, seal, type VaultKeys } from '../../src-main/vault/crypto';

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'oncekey-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Puts `codes` straight into the vault as available keys, with their ledger entry. */
export function seedKeys(
  db: WritableDB,
  vault: VaultKeys,
  productId: string,
  codes: readonly string[],
  now = Date.now(),
): number[] {
  return db
    .transaction(() => {
      const insert = stmt(
        db,
        `INSERT INTO keys (product_no, fingerprint, sealed, status, updated_at) VALUES ((SELECT no FROM products WHERE id = ?), ?, ?, 'available', ?)`,
      );
      const ids = codes.map((code) => {
        const fp = fingerprint(vault.fingerprintKey, code);
        return Number(insert.run(productId, fp, seal(vault.sealKey, code, keyAad(productId, fp)), now).lastInsertRowid);
      });
      moveStock(db, productId, { available: ids.length });
      appendLedger(db, { kind: 'import', at: now, productId, keyIds: ids, keysTo: 'available', detail: { seeded: ids.length } });
      return ids;
    })
    .immediate();
}

export async function openShop(
  options: Partial<EngineOptions> & { keys?: number; price?: number } = {},
): Promise<{ engine: Engine; dir: string; productId: string; cleanup: () => Promise<void> }> {
  const { dir, cleanup } = tempDir();
  const engine = Engine.open({ dataDir: dir, ...options });
  const product = await engine.createProduct({ name: 'Steam 50', price: { amount: options.price ?? 5000, currency: 'CNY' } });
  const count = options.keys ?? 1;
  seedKeys(
    engine.db,
    engine.vault,
    product.id,
    Array.from({ length: count }, (_, i) => `CODE-${String(i).padStart(6, '0')}`),
  );
  return {
    engine,
    dir,
    productId: product.id,
    cleanup: async () => {
      await engine.close();
      cleanup();
    },
  };
}
