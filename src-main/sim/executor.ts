/**
 * Runs one request of one buyer at a time, for both runners. An `Actor` is one attempt of one buyer
 * (a client retry is a new actor); `perform()` executes its pending request synchronously on a real
 * SQLite connection, records what happened, and advances its program. A busy database, a held lease or
 * an exhausted connection pool comes back as `blocked` (recorded once as `lock_wait`): the caller decides
 * when to try again (the live runner after a short sleep, the scheduler when another buyer released).
 */
import type { EventDetail, Scenario, StepKind } from '../../shared/sim';
import { isBusyError, type WritableDB } from '../db/types';
import { drawThink, mix, mulberry32, type Rng } from './prng';
import type { BuyerContext, Env, Outcome, Program, Request } from './program';
import { ITEM_ID } from './schema';
import { sqliteStrategy } from './strategies';

export interface ConnectionSource {
  /** A connection outside any transaction for autocommit statements; null when none is free now. */
  auto(): WritableDB | null;
  /** A connection to hold for a whole transaction; null when none is free now. */
  take(): WritableDB | null;
  give(db: WritableDB): void;
}

export class Actor {
  readonly ctx: BuyerContext;
  readonly program: Program;
  readonly rng: Rng;
  pending: Request | null = null;
  started = false;
  done = false;
  /** The client already has its answer (a `respond` request, or the end of the program). */
  responded = false;
  /** The client timed out on this attempt and stopped listening. */
  clientGone = false;
  conn: WritableDB | null = null;
  waiting = false;
  /** Deterministic mode: time this attempt has spent (steps, waits and think), for the client timeout. */
  elapsed = 0;
  outcome: Outcome | null = null;

  constructor(
    readonly id: number,
    scenario: Scenario,
    readonly buyer: number,
    readonly attempt: number,
  ) {
    const token = scenario.client.idempotencyKey ? `idem-${buyer}` : null;
    this.ctx = { buyer, attempt, token, scenario };
    this.program = sqliteStrategy(scenario.strategy).program(this.ctx);
    this.rng = mulberry32(mix(scenario.seed, buyer, attempt));
  }
}

export type StepResult =
  | { readonly kind: 'progress'; readonly releases: boolean }
  | { readonly kind: 'think'; readonly ms: number }
  | { readonly kind: 'blocked'; readonly on: string }
  | { readonly kind: 'done' };

export type Recorder = (actor: Actor, step: StepKind, detail: EventDetail) => void;

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ERROR';
}

function stockOf(db: WritableDB): number {
  return (db.prepare('SELECT stock FROM items WHERE id = ?').get(ITEM_ID) as { stock: number }).stock;
}

export class Executor {
  constructor(
    private readonly scenario: Scenario,
    private readonly conns: ConnectionSource,
    private readonly env: Env,
    private readonly record: Recorder,
  ) {}

  perform(actor: Actor): StepResult {
    if (actor.done) return { kind: 'done' };
    if (!actor.started) {
      actor.started = true;
      this.record(actor, 'invoke', actor.ctx.token === null ? {} : { token: actor.ctx.token });
      this.advance(actor, () => actor.program.next());
      return { kind: 'progress', releases: actor.done };
    }
    const req = actor.pending;
    if (req === null) throw new Error('actor has no pending request');
    switch (req.op) {
      case 'think': {
        const ms = Math.round(drawThink(this.scenario.think, actor.rng) * 1000) / 1000;
        this.record(actor, 'think', { ms });
        actor.elapsed += ms;
        this.advance(actor, () => actor.program.next());
        return { kind: 'think', ms };
      }
      case 'respond': {
        this.answer(actor, req.outcome, { early: true });
        this.advance(actor, () => actor.program.next());
        return { kind: 'progress', releases: false };
      }
      case 'begin': {
        const db = this.conns.take();
        if (db === null) return this.wait(actor, 'pool');
        try {
          db.exec(req.mode === 'immediate' ? 'BEGIN IMMEDIATE' : 'BEGIN');
        } catch (error) {
          this.conns.give(db);
          if (isBusyError(error)) return this.wait(actor, 'lock');
          throw error;
        }
        actor.conn = db;
        actor.waiting = false;
        this.record(actor, 'begin', { mode: req.mode });
        this.advance(actor, () => actor.program.next());
        return { kind: 'progress', releases: actor.done };
      }
      case 'commit':
      case 'rollback': {
        const db = actor.conn;
        if (db === null) throw new Error(`${req.op} outside a transaction`);
        try {
          db.exec(req.op === 'commit' ? 'COMMIT' : 'ROLLBACK');
        } catch (error) {
          if (isBusyError(error) && errorCode(error) !== 'SQLITE_BUSY_SNAPSHOT') return this.wait(actor, 'lock');
          this.advance(actor, () => actor.program.throw(error));
          return { kind: 'progress', releases: true };
        }
        const stockAfter = stockOf(db);
        actor.conn = null;
        this.conns.give(db);
        actor.waiting = false;
        this.record(actor, req.op, req.op === 'commit' ? { stockAfter } : {});
        this.advance(actor, () => actor.program.next());
        return { kind: 'progress', releases: true };
      }
      case 'acquire': {
        const db = actor.conn ?? this.conns.auto();
        if (db === null) return this.wait(actor, 'pool');
        let got: boolean;
        try {
          got = req.run(db, this.env);
        } catch (error) {
          if (isBusyError(error)) return this.wait(actor, 'lock');
          this.advance(actor, () => actor.program.throw(error));
          return { kind: 'progress', releases: true };
        }
        if (!got) return this.wait(actor, req.label);
        actor.waiting = false;
        this.record(actor, 'write', { label: req.label, acquired: true, autocommit: actor.conn === null });
        this.advance(actor, () => actor.program.next());
        return { kind: 'progress', releases: true };
      }
      case 'read':
      case 'write': {
        const inTx = actor.conn !== null;
        const db = actor.conn ?? this.conns.auto();
        if (db === null) return this.wait(actor, 'pool');
        let result: unknown;
        try {
          // A write step outside the buyer's own transaction may be several statements (the order, then its
          // key): it commits as one, so a busy database retried later cannot leave the first half behind twice.
          result = req.op === 'write' && !inTx ? db.transaction(() => req.run(db, this.env)).immediate() : req.run(db, this.env);
        } catch (error) {
          if (isBusyError(error) && errorCode(error) !== 'SQLITE_BUSY_SNAPSHOT') return this.wait(actor, 'lock');
          actor.waiting = false;
          this.record(actor, req.op, { label: req.label, error: errorCode(error) });
          this.advance(actor, () => actor.program.throw(error));
          return { kind: 'progress', releases: true };
        }
        actor.waiting = false;
        const detail: EventDetail = { label: req.label, ...req.describe(result) };
        if (req.op === 'write' && !inTx) {
          detail.autocommit = true;
          detail.stockAfter = stockOf(db);
        }
        this.record(actor, req.op, detail);
        this.advance(actor, () => actor.program.next(result));
        return { kind: 'progress', releases: (req.op === 'write' && !inTx) || actor.done };
      }
    }
  }

  /** Live mode gave up waiting: the program sees a busy error (and may answer with one). */
  giveUp(actor: Actor, on: string): void {
    const error = Object.assign(new Error(`gave up waiting for the ${on}`), { code: 'SQLITE_BUSY' });
    actor.waiting = false;
    this.advance(actor, () => actor.program.throw(error));
  }

  private wait(actor: Actor, on: string): StepResult {
    if (!actor.waiting) {
      actor.waiting = true;
      this.record(actor, 'lock_wait', { on });
    }
    actor.elapsed += 1;
    return { kind: 'blocked', on };
  }

  private advance(actor: Actor, next: () => IteratorResult<Request, Outcome>): void {
    actor.elapsed += 1;
    let result: IteratorResult<Request, Outcome>;
    try {
      result = next();
    } catch (error) {
      this.finish(actor, { ok: false, reason: isBusyError(error) ? 'busy' : 'error' }, errorCode(error));
      return;
    }
    if (result.done) this.finish(actor, result.value, null);
    else actor.pending = result.value;
  }

  private finish(actor: Actor, outcome: Outcome, code: string | null): void {
    if (actor.conn !== null) {
      const db = actor.conn;
      actor.conn = null;
      try {
        if (db.inTransaction) db.exec('ROLLBACK');
        this.record(actor, 'rollback', {});
      } finally {
        this.conns.give(db);
      }
    }
    actor.done = true;
    actor.pending = null;
    actor.outcome = outcome;
    this.answer(actor, outcome, code === null ? {} : { code });
  }

  private answer(actor: Actor, outcome: Outcome, extra: EventDetail): void {
    const detail: EventDetail = outcome.ok
      ? { orderId: outcome.orderId, keyId: outcome.keyId, ...(outcome.replayed ? { replayed: true } : {}) }
      : { reason: outcome.reason };
    Object.assign(detail, extra);
    if (actor.responded) detail.afterResponse = true;
    if (actor.clientGone) detail.late = true;
    actor.responded = true;
    this.record(actor, outcome.ok ? 'ok' : 'fail', detail);
  }
}
