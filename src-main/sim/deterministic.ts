/**
 * Deterministic mode: one process, real SQLite connections (one per open transaction, busy_timeout 0),
 * and a scheduler that decides which buyer moves next. A step runs one database request of one buyer
 * synchronously (think time costs nothing here: it is simply where other buyers get to move). A buyer
 * that meets a held lock records `lock_wait` and is not scheduled again until someone commits, rolls
 * back or releases. The order comes from the seed (or from a trainer's choices), and times are logical
 * step numbers, so the same seed gives the same history byte for byte.
 *
 * - `DeterministicRun`: one execution; `step(actorId?)`.
 * - `Session`: a trainer's handle: `step(buyer?)`, `back()` (re-run from the start up to n-1), `reset()`.
 * - `enumerateInterleavings()`: every schedule of a few buyers, and how many of them break.
 */
import { accessSync, constants, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EnumerationResult, EventDetail, History, HistoryEvent, Scenario, StepKind, StrategyName } from '../../shared/sim';
import type { WritableDB } from '../db/types';
import { check } from './checker';
import { Actor, Executor, type ConnectionSource } from './executor';
import { mix } from './prng';
import { createScratch, openScratch, readFinalState } from './schema';

/** Logical steps between two buyers' arrivals when the arrival is `spread`. */
export const SPREAD_GAP_STEPS = 12;

class LocalConnections implements ConnectionSource {
  private readonly free: WritableDB[] = [];
  private readonly all: WritableDB[] = [];
  private readonly shared: WritableDB;

  constructor(private readonly file: string) {
    this.shared = this.open();
  }

  private open(): WritableDB {
    const db = openScratch(this.file, { synchronous: 'off', busyTimeoutMs: 0 });
    this.all.push(db);
    return db;
  }

  auto(): WritableDB {
    return this.shared;
  }

  take(): WritableDB {
    return this.free.pop() ?? this.open();
  }

  give(db: WritableDB): void {
    this.free.push(db);
  }

  close(): void {
    for (const db of this.all) db.close();
  }
}

/** A scratch folder reused by many runs (one file per run, deleted after it). */
/** Deterministic runs are many and tiny: a memory-backed folder when the system has one. */
function scratchRoot(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

export class ScratchDir {
  readonly path = mkdtempSync(join(scratchRoot(), 'oncekey-sim-'));
  private n = 0;

  private readonly templates = new Map<number, string>();

  nextFile(): string {
    this.n += 1;
    return join(this.path, `run-${this.n}.db`);
  }

  /** A fresh scratch database with `keys` keys: a copy of a template made once per key count. */
  fresh(keys: number): string {
    let template = this.templates.get(keys);
    if (template === undefined) {
      template = join(this.path, `template-${keys}.db`);
      createScratch(template, keys, { synchronous: 'off' });
      this.templates.set(keys, template);
    }
    const file = this.nextFile();
    copyFileSync(template, file);
    return file;
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

function removeDbFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
}

export class DeterministicRun {
  readonly actors: Actor[] = [];
  readonly events: HistoryEvent[] = [];
  /** Actor ids, one per step taken. */
  readonly choices: number[] = [];
  private readonly arrivals = new Map<number, number>();
  private readonly blocked = new Set<number>();
  private readonly conns: LocalConnections;
  private readonly executor: Executor;
  private readonly file: string;
  private tick = 0;
  private closed = false;
  readonly maxSteps: number;

  constructor(
    readonly scenario: Scenario,
    scratch: ScratchDir,
  ) {
    this.file = scratch.fresh(scenario.keys);
    this.conns = new LocalConnections(this.file);
    this.executor = new Executor(scenario, this.conns, { now: () => this.tick }, (actor, step, detail) =>
      this.record(actor, step, detail),
    );
    for (let b = 0; b < scenario.buyers; b++) {
      const actor = new Actor(this.actors.length, scenario, b, 1);
      this.actors.push(actor);
      this.arrivals.set(actor.id, scenario.arrival.kind === 'spread' ? b * SPREAD_GAP_STEPS : 0);
    }
    this.maxSteps = 1000 + scenario.buyers * 200;
  }

  private record(actor: Actor, step: StepKind, detail: EventDetail): void {
    this.events.push({ i: this.events.length, buyer: actor.buyer, attempt: actor.attempt, step, t: this.tick, detail });
  }

  get finished(): boolean {
    return this.actors.every((a) => a.done);
  }

  get steps(): number {
    return this.choices.length;
  }

  /** Actors that may move now, by id. Jumps the clock to the next arrival when nobody can. */
  runnable(): Actor[] {
    const ready = () =>
      this.actors.filter((a) => !a.done && !this.blocked.has(a.id) && (this.arrivals.get(a.id) ?? 0) <= this.tick);
    let list = ready();
    if (list.length > 0 || this.finished) return list;
    const future = this.actors.filter((a) => !a.done && (this.arrivals.get(a.id) ?? 0) > this.tick);
    if (future.length > 0) {
      this.tick = Math.min(...future.map((a) => this.arrivals.get(a.id) ?? 0));
      list = ready();
      if (list.length > 0) return list;
    }
    // Everyone waits on something no running buyer will release (an expired lease's holder is gone):
    // let them all look again; the clock moves on, so an expired lease can be taken.
    this.blocked.clear();
    return ready();
  }

  /** Moves one actor by one database request (the seeded choice when no id is given). */
  step(actorId?: number): Actor {
    if (this.finished) throw new Error('the run is over');
    const runnable = this.runnable();
    const actor =
      actorId === undefined
        ? runnable[mix(this.scenario.seed, this.choices.length) % runnable.length]
        : runnable.find((a) => a.id === actorId);
    if (!actor) throw new Error(`buyer ${actorId} cannot move now`);
    this.choices.push(actor.id);
    // Invoking, thinking and answering early touch no data: they ride along with the next database request.
    let result;
    for (;;) {
      const free = !actor.started || actor.pending?.op === 'respond';
      result = this.executor.perform(actor);
      if (result.kind === 'think' || (free && result.kind === 'progress' && !actor.done)) continue;
      break;
    }
    // Thinking right after a read shows up with that read.
    while (result.kind === 'progress' && !actor.done && actor.pending?.op === 'think') this.executor.perform(actor);
    this.tick += 1;
    if (result.kind === 'blocked') this.blocked.add(actor.id);
    if ((result.kind === 'progress' && result.releases) || actor.done) this.blocked.clear();
    this.checkTimeout(actor);
    if (this.choices.length >= this.maxSteps && !this.finished) this.abandon();
    return actor;
  }

  private checkTimeout(actor: Actor): void {
    const { timeoutMs, retries } = this.scenario.client;
    if (timeoutMs <= 0 || actor.responded || actor.clientGone || actor.elapsed <= timeoutMs) return;
    actor.clientGone = true;
    this.record(actor, 'unknown', { timeoutMs });
    if (actor.attempt <= retries) {
      const retry = new Actor(this.actors.length, this.scenario, actor.buyer, actor.attempt + 1);
      this.actors.push(retry);
      this.arrivals.set(retry.id, this.tick);
    }
  }

  /** The step budget ran out (a bug or a pathological scenario): the rest fail as `busy`. */
  private abandon(): void {
    for (const actor of this.actors) {
      if (!actor.done) {
        if (!actor.started) this.executor.perform(actor);
        if (!actor.done) this.executor.giveUp(actor, 'step budget');
      }
    }
  }

  runToEnd(): void {
    while (!this.finished) this.step();
  }

  /** Closes the connections, reads the final state and deletes the scratch file. */
  history(): History {
    if (this.closed) throw new Error('the run was already read');
    const final = readFinalState(this.conns.auto());
    this.conns.close();
    this.closed = true;
    removeDbFiles(this.file);
    return {
      version: 1,
      mode: 'deterministic',
      timeUnit: 'step',
      scenario: this.scenario,
      initialStock: this.scenario.keys,
      events: this.events,
      final,
    };
  }

  dispose(): void {
    if (!this.closed) {
      this.conns.close();
      this.closed = true;
    }
    removeDbFiles(this.file);
  }
}

/** Runs a scenario to the end in the seed's order and returns its history. */
export function runDeterministic(scenario: Scenario, scratch?: ScratchDir): History {
  const dir = scratch ?? new ScratchDir();
  try {
    const run = new DeterministicRun(scenario, dir);
    run.runToEnd();
    return run.history();
  } finally {
    if (!scratch) dir.remove();
  }
}

export interface SessionView {
  readonly steps: number;
  readonly finished: boolean;
  readonly events: readonly HistoryEvent[];
  /** Buyers who can move now. */
  readonly runnable: readonly number[];
}

/** A trainer's deterministic session: step, back, reset, and choose who moves next. */
export class Session {
  private readonly scratch = new ScratchDir();
  private run: DeterministicRun;

  constructor(readonly scenario: Scenario) {
    this.run = new DeterministicRun(scenario, this.scratch);
  }

  view(): SessionView {
    return {
      steps: this.run.steps,
      finished: this.run.finished,
      events: this.run.events,
      runnable: this.run.finished ? [] : [...new Set(this.run.runnable().map((a) => a.buyer))],
    };
  }

  /** One step: of `buyer` (its oldest attempt that can move) or of the seed's choice. */
  step(buyer?: number): SessionView {
    if (buyer === undefined) this.run.step();
    else {
      const actor = this.run.runnable().find((a) => a.buyer === buyer);
      if (!actor) throw new Error(`buyer ${buyer} cannot move now`);
      this.run.step(actor.id);
    }
    return this.view();
  }

  /** Runs to the end in the seed's order. */
  finish(): SessionView {
    this.run.runToEnd();
    return this.view();
  }

  /** Undoes the last step by re-running from the start with the same choices but one. */
  back(): SessionView {
    const choices = this.run.choices.slice(0, -1);
    this.run.dispose();
    this.run = new DeterministicRun(this.scenario, this.scratch);
    for (const id of choices) this.run.step(id);
    return this.view();
  }

  reset(): SessionView {
    this.run.dispose();
    this.run = new DeterministicRun(this.scenario, this.scratch);
    return this.view();
  }

  /** The history so far, with the database's state as it stands (ends the current run's connections). */
  history(): History {
    const choices = [...this.run.choices];
    const history = this.run.history();
    this.run = new DeterministicRun(this.scenario, this.scratch);
    for (const id of choices) this.run.step(id);
    return history;
  }

  close(): void {
    this.run.dispose();
    this.scratch.remove();
  }
}

export interface EnumerateOptions {
  readonly strategy: StrategyName;
  readonly buyers: number;
  readonly keys?: number;
  /** Stop after this many complete executions (default 20,000). */
  readonly budget?: number;
  /** The rest of the scenario (defaults: the incident's). */
  readonly base: Scenario;
}

/**
 * Every interleaving of the buyers' steps, depth first: each execution replays a prefix of choices
 * (indexes into the list of buyers able to move) and then always takes the first; the next execution
 * bumps the deepest choice that still has an alternative. Blocked buyers are not choices, so waiting
 * does not multiply the count.
 */
export function enumerateInterleavings(options: EnumerateOptions): EnumerationResult {
  const scenario: Scenario = {
    ...options.base,
    strategy: options.strategy,
    buyers: options.buyers,
    keys: options.keys ?? 1,
    arrival: { kind: 'burst', windowMs: 0 },
    client: { timeoutMs: 0, retries: 0, idempotencyKey: false },
  };
  const budget = options.budget ?? 20_000;
  const scratch = new ScratchDir();
  let prefix: number[] = [];
  let interleavings = 0;
  let broken = 0;
  let firstBroken: number[] | null = null;
  try {
    for (;;) {
      const run = new DeterministicRun(scenario, scratch);
      const picks: number[] = [];
      const widths: number[] = [];
      const buyersPicked: number[] = [];
      while (!run.finished) {
        const runnable = run.runnable();
        const depth = picks.length;
        const pick = depth < prefix.length ? (prefix[depth] ?? 0) : 0;
        const actor = runnable[pick];
        if (!actor) throw new Error('enumeration lost its way');
        picks.push(pick);
        widths.push(runnable.length);
        buyersPicked.push(actor.buyer);
        run.step(actor.id);
      }
      const anomalies = check(run.history());
      interleavings += 1;
      if (anomalies.length > 0) {
        broken += 1;
        firstBroken ??= buyersPicked;
      }
      let d = picks.length - 1;
      while (d >= 0 && (picks[d] ?? 0) + 1 >= (widths[d] ?? 0)) d--;
      if (d < 0)
        return { strategy: options.strategy, buyers: options.buyers, interleavings, broken, complete: true, firstBroken };
      if (interleavings >= budget)
        return { strategy: options.strategy, buyers: options.buyers, interleavings, broken, complete: false, firstBroken };
      prefix = [...picks.slice(0, d), (picks[d] ?? 0) + 1];
    }
  } finally {
    scratch.remove();
  }
}
