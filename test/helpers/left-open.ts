/**
 * A child script for test/worker-exit.test.ts: it starts the background threads that a big write load, a
 * big import and a purchase storm start (the writer's checkpoint worker, the import's crypto worker, the
 * order tickets' thread), waits until each has done some work, then returns without closing anything. A
 * process that forgot to close must still exit once its own work is done: the idle threads must not
 * hold it.
 *
 * Run as `node --import tsx/esm test/helpers/left-open.ts <dir>`.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase } from '../../src-main/db/open';
import { TicketPool } from '../../src-main/engine/tickets';
import { GroupCommitWriter } from '../../src-main/engine/writer';
import { deriveVaultKeys } from '../../src-main/vault/crypto';
import { CryptoStage } from '../../src-main/vault/import-crypto';

const dir = process.argv[2]!;
const db = openDatabase(join(dir, 'left-open.db'));
db.exec('CREATE TABLE t (n INTEGER) STRICT');
const writer = new GroupCommitWriter(db, { backgroundCheckpointAfter: 10 });
for (let round = 0; round < 200 && writer.stats.checkpoints === 0; round++) {
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => writer.run((conn) => conn.prepare('INSERT INTO t (n) VALUES (?)').run(i))),
  );
  await sleep(5);
}
const crypto = new CryptoStage(deriveVaultKeys(Buffer.alloc(32, 1)), 'prd_x', { seal: true, workerAfter: 0 });
const prepared = await crypto.process(['CODE-1', 'CODE-2']);
const tickets = new TicketPool(Buffer.alloc(32, 2), { startAfter: 1, batch: 16 });
tickets.take();
for (let i = 0; i < 400 && tickets.ready === 0; i++) await sleep(50);
console.log(
  JSON.stringify({ checkpoints: writer.stats.checkpoints, prepared: prepared.fingerprints.length, tickets: tickets.ready }),
);
