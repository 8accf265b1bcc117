/**
 * Migration 13: a statement remembers which rule set its period (`statements.period_rule`): the period
 * the bill declares, the whole days its rows cover in the shop's time zone, or the one the importer gave
 * (`--from/--to`). Older statements keep their stored period with no rule (their first and last row).
 */
import type { WritableDB } from '../types';

export const version = 13;

export function up(db: WritableDB): void {
  db.exec(
    `ALTER TABLE statements ADD COLUMN period_rule TEXT CHECK (period_rule IS NULL OR period_rule IN ('declared', 'row_days', 'given'))`,
  );
}
