/** The numbered migrations, in order. `user_version` records the last one applied. */
import type { WritableDB } from '../types';
import * as m001 from './001-initial';
import * as m002 from './002-reconcile';
import * as m003 from './003-list-indexes';
import * as m004 from './004-reconcile-indexes';
import * as m005 from './005-idempotency-response';
import * as m006 from './006-import-rows';
import * as m007 from './007-drop-keys-available';
import * as m008 from './008-idempotency-rowid';
import * as m009 from './009-drop-idempotency-age';
import * as m010 from './010-import-staging';
import * as m011 from './011-key-product-number';
import * as m012 from './012-payment-channels';
import * as m013 from './013-statement-period-rule';
import * as m014 from './014-pg-claim-index';

export interface Migration {
  readonly version: number;
  /** A migration that rebuilds a table others reference runs with foreign keys off (checked before commit). */
  readonly foreignKeysOff?: boolean;
  up(db: WritableDB): void;
  /**
   * The same change on PostgreSQL (pg/migrate.ts), required of every migration after
   * POSTGRES_BASELINE_VERSION; the ones up to it are in PostgreSQL's baseline schema (pg/baseline.ts).
   */
  readonly postgres?: string;
}

/** PostgreSQL databases start at this version's schema (pg/baseline.ts). */
export const POSTGRES_BASELINE_VERSION = 13;

export const MIGRATIONS: readonly Migration[] = [
  m001,
  m002,
  m003,
  m004,
  m005,
  m006,
  m007,
  m008,
  m009,
  m010,
  m011,
  m012,
  m013,
  m014,
];

export const LATEST_VERSION = MIGRATIONS.length;
