/**
 * Drives one attempt of one buyer on the real servers: takes the buyer's own connections from the
 * pool, performs its program's requests one after another (await: other buyers run meanwhile, so the
 * concurrency is the servers'), records each step in the history's words, and answers. A statement
 * that may wait for a row lock and answers late is drawn as a lock wait from when it was sent:
 * PostgreSQL does not tell a client it waited, so the wait is inferred from the time taken. A held
 * Redis lock is polled with short jittered sleeps, up to the wait limit. Every loop is bounded.
 */
import type { EventDetail, Scenario, StepKind } from '../../../shared/sim';
import { drawThink, mix, mulberry32, type Rng } from '../prng';
import type { BuyerContext, Env, Outcome } from '../program';
import { stockOf } from './blocks';
import type { Conns, ServerProgram, ServerRequest, ServerStrategy } from './program';
import { sqlState } from './program';

/** A locking statement slower than this is drawn as a lock wait (an unlocked one answers in about a millisecond). */
export const LOCK_WAIT_DRAW_MS = 5;
/** Requests one attempt may make before it is cut off (programs are bounded; this guards a bug). */
const MAX_REQUESTS = 1_000;

export class ServerActor {
  readonly ctx: BuyerContext;
  readonly program: ServerProgram;
  readonly rng: Rng;
  conns: Conns | null = null;
  inTx = false;
  responded = false;
  clientGone = false;
  done = false;
  outcome: Outcome | null = null;

  constructor(scenario: Scenario, strategy: ServerStrategy, buyer: number, attempt: number) {
    const token = scenario.client.idempotencyKey ? `idem-${buyer}` : null;
    this.ctx = { buyer, attempt, token, scenario };
    this.program = strategy.program(this.ctx);
    this.rng = mulberry32(mix(scenario.seed, buyer, attempt));
  }
}

/** Records a step; `atUs` places it earlier than now (a lock wait, drawn from when the statement was sent). */
export type Recorder = (actor: ServerActor, step: StepKind, detail: EventDetail, atUs?: number) => void;

export interface DriveDeps {
  readonly scenario: Scenario;
  readonly env: Env;
  readonly record: Recorder;
  readonly nowUs: () => number;
  /** The buyer's own connections, or null when none was free within the wait limit. */
  readonly take: () => Promise<{ conns: Conns; waited: boolean } | null>;
  readonly give: (conns: Conns, healthy: boolean) => void;
  readonly waitLimitMs: number;
  readonly jitter: Rng;
  /** True once the run is over (time limit): remaining buyers stop at their next step. */
  readonly aborted: () => boolean;
}

class GaveUp extends Error {
  readonly code = 'BUSY';
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'ERROR';
}

/** lock_not_available (lock_timeout), query_canceled (statement_timeout) or our own wait limit: busy. */
function reasonOf(error: unknown): 'busy' | 'error' {
  const state = sqlState(error);
  return error instanceof GaveUp || state === '55P03' || state === '57014' ? 'busy' : 'error';
}

type Next = () => IteratorResult<ServerRequest, Outcome>;

export async function drive(actor: ServerActor, deps: DriveDeps): Promise<void> {
  const { record } = deps;
  const invokedAt = deps.nowUs();
  record(actor, 'invoke', actor.ctx.token === null ? {} : { token: actor.ctx.token });
  const taken = await deps.take();
  if (taken === null) {
    record(actor, 'lock_wait', { on: 'pool' }, invokedAt);
    await finish(actor, deps, { ok: false, reason: 'busy' }, 'BUSY');
    return;
  }
  if (taken.waited) record(actor, 'lock_wait', { on: 'pool' }, invokedAt);
  const conns = taken.conns;
  actor.conns = conns;
  let next: Next = () => actor.program.next();
  for (let requests = 0; ; requests++) {
    if (requests >= MAX_REQUESTS || deps.aborted()) {
      await finish(actor, deps, { ok: false, reason: 'busy' }, 'BUSY');
      return;
    }
    let result: IteratorResult<ServerRequest, Outcome>;
    try {
      result = next();
    } catch (error) {
      await finish(actor, deps, { ok: false, reason: reasonOf(error) }, codeOf(error));
      return;
    }
    if (result.done) {
      await finish(actor, deps, result.value, null);
      return;
    }
    const request = result.value;
    try {
      next = await perform(actor, conns, request, deps);
    } catch (error) {
      // The bookkeeping around a request failed (the connection went away): the program hears it.
      next = () => actor.program.throw(error);
    }
  }
}

async function perform(actor: ServerActor, c: Conns, req: ServerRequest, deps: DriveDeps): Promise<Next> {
  const { record } = deps;
  const fail =
    (error: unknown): Next =>
    () =>
      actor.program.throw(error);
  switch (req.op) {
    case 'think': {
      const ms = Math.round(drawThink(deps.scenario.think, actor.rng) * 1000) / 1000;
      record(actor, 'think', { ms });
      await sleep(ms);
      return () => actor.program.next();
    }
    case 'begin': {
      try {
        await c.pg.query(req.sql);
      } catch (error) {
        return fail(error);
      }
      actor.inTx = true;
      record(actor, 'begin', { mode: req.mode });
      return () => actor.program.next();
    }
    case 'commit': {
      if (!actor.inTx) return fail(new Error('COMMIT outside a transaction'));
      try {
        const done = await c.pg.query('COMMIT');
        // PostgreSQL answers COMMIT of a failed transaction with ROLLBACK, not an error.
        if (done.command === 'ROLLBACK')
          throw Object.assign(new Error('the transaction had failed; COMMIT rolled it back'), { code: '25P02' });
      } catch (error) {
        actor.inTx = false;
        record(actor, 'rollback', { error: codeOf(error) });
        return fail(error);
      }
      actor.inTx = false;
      const stockAfter = await stockOf(c);
      record(actor, 'commit', { stockAfter });
      return () => actor.program.next();
    }
    case 'rollback': {
      // Nothing to roll back after a COMMIT that failed: PostgreSQL already ended the transaction.
      if (!actor.inTx) return () => actor.program.next();
      try {
        await c.pg.query('ROLLBACK');
      } catch (error) {
        return fail(error);
      } finally {
        actor.inTx = false;
      }
      record(actor, 'rollback', {});
      return () => actor.program.next();
    }
    case 'acquire': {
      const since = performance.now();
      let backoff = 0.5;
      for (let polls = 0; ; polls++) {
        let got: boolean;
        try {
          got = await req.run(c, deps.env);
        } catch (error) {
          return fail(error);
        }
        if (got) {
          record(actor, 'write', { label: req.label, acquired: true, autocommit: !actor.inTx });
          return () => actor.program.next();
        }
        if (polls === 0) record(actor, 'lock_wait', { on: req.label });
        if (performance.now() - since > deps.waitLimitMs || deps.aborted())
          return fail(new GaveUp(`gave up waiting for the ${req.label}`));
        await sleep(backoff * (0.5 + deps.jitter()));
        backoff = Math.min(backoff * 2, 8);
      }
    }
    case 'read':
    case 'write': {
      const sentAt = deps.nowUs();
      const started = performance.now();
      let result: unknown;
      let failure: unknown = null;
      try {
        result = await req.run(c, deps.env);
      } catch (error) {
        failure = error;
      }
      if (req.mayWait === true && performance.now() - started > LOCK_WAIT_DRAW_MS)
        record(actor, 'lock_wait', { on: 'row lock' }, sentAt);
      if (failure !== null) {
        record(actor, req.op, { label: req.label, error: codeOf(failure) });
        return fail(failure);
      }
      const detail: EventDetail = { label: req.label, ...req.describe(result) };
      if (req.op === 'write' && !actor.inTx) {
        detail.autocommit = true;
        detail.stockAfter = await stockOf(c);
      }
      record(actor, req.op, detail);
      return () => actor.program.next(result);
    }
  }
}

async function finish(actor: ServerActor, deps: DriveDeps, outcome: Outcome, code: string | null): Promise<void> {
  let healthy = true;
  const conns = actor.conns;
  if (conns !== null && actor.inTx) {
    actor.inTx = false;
    try {
      await conns.pg.query('ROLLBACK');
    } catch {
      healthy = false;
    }
    deps.record(actor, 'rollback', {});
  }
  actor.done = true;
  actor.outcome = outcome;
  answer(actor, deps.record, outcome, code === null ? {} : { code });
  if (conns !== null) {
    actor.conns = null;
    deps.give(conns, healthy);
  }
}

function answer(actor: ServerActor, record: Recorder, outcome: Outcome, extra: EventDetail): void {
  const detail: EventDetail = outcome.ok
    ? { orderId: outcome.orderId, keyId: outcome.keyId, ...(outcome.replayed ? { replayed: true } : {}) }
    : { reason: outcome.reason };
  Object.assign(detail, extra);
  if (actor.responded) detail.afterResponse = true;
  if (actor.clientGone) detail.late = true;
  actor.responded = true;
  record(actor, outcome.ok ? 'ok' : 'fail', detail);
}
