/**
 * Buyers in real OS processes. This file is both:
 *
 * - the child script, run as `node --import tsx/esm test/helpers/buyer-process.ts <dataDir>`: it opens its
 *   own Engine (its own SQLite connection, its own group-commit writer) on the shared data folder, says
 *   `ready`, and then does what the parent asks over the IPC channel;
 * - the parent's side (`spawnBuyer`, `spawnBuyers`, `killAllBuyers`), imported by the tests.
 *
 * A race is armed first (`arm`, the buyers' requests) and fired by a tiny `go` message sent to every
 * process only once all of them are open and armed, so the purchases really meet at the database.
 *
 * The child never outlives its parent: it exits when the IPC channel closes, and after a hard time limit.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src-main/engine/engine';
import { isEngineError } from '../../src-main/engine/errors';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(import.meta.url);
const CHILD_ENV = 'ONCEKEY_BUYER_CHILD';
/** A child kills itself after this long whatever happens, so a stuck test never leaves processes behind. */
const CHILD_LIFETIME_MS = 180_000;

// ---------------------------------------------------------------------------------------------------
// Protocol

export interface BuyerRequest {
  readonly productId: string;
  readonly quantity?: number;
  readonly email: string;
  readonly idempotencyKey?: string;
  /** Pay for the order as soon as it is reserved (full amount, a fresh event id). */
  readonly pay?: boolean;
}

/** What one buyer saw. `thrown` means the engine threw (an EngineError or worse) instead of returning a result. */
export type BuyerOutcome =
  | {
      readonly ok: true;
      readonly orderId: string;
      readonly replayed: boolean;
      readonly accessToken: string;
      readonly paid: string | null;
    }
  | { readonly ok: false; readonly code: string; readonly message: string; readonly thrown: boolean };

export interface StormRequest {
  readonly productId: string;
  /** Concurrent purchase loops in the child. */
  readonly workers: number;
  /** Upper bound on purchases per loop. */
  readonly maxPerWorker: number;
  /** Fraction of orders paid right after they are reserved (the rest keep their hold). */
  readonly payRatio: number;
  /** Prefix for e-mails, idempotency keys and payment event ids (unique per child). */
  readonly tag: string;
}

export interface StormProgress {
  readonly event: 'reserved' | 'delivered';
  readonly orderId: string;
  readonly quantity: number;
}

export interface StormSummary {
  readonly reserved: number;
  readonly delivered: number;
  readonly soldOut: number;
  readonly errors: readonly string[];
}

export interface WriterStatsSnapshot {
  readonly batches: number;
  readonly writes: number;
  readonly busyRetries: number;
  readonly isolatedRetries: number;
}

type ParentMessage =
  | { readonly id: number; readonly op: 'arm'; readonly buyers: readonly BuyerRequest[] }
  | { readonly id: number; readonly op: 'go' }
  | { readonly id: number; readonly op: 'buy'; readonly buyers: readonly BuyerRequest[] }
  | { readonly id: number; readonly op: 'storm'; readonly storm: StormRequest }
  | { readonly id: number; readonly op: 'stop-storm' }
  | { readonly id: number; readonly op: 'stats' }
  | { readonly id: number; readonly op: 'close' };

type ChildMessage =
  | { readonly type: 'opening' }
  | { readonly type: 'ready'; readonly pid: number }
  | { readonly type: 'reply'; readonly id: number; readonly value?: unknown; readonly error?: string }
  | { readonly type: 'progress'; readonly progress: StormProgress }
  | { readonly type: 'fatal'; readonly error: string };

// ---------------------------------------------------------------------------------------------------
// Child side

async function buyOne(engine: Engine, buyer: BuyerRequest, seq: number): Promise<BuyerOutcome> {
  try {
    const { result, replayed } = await engine.reserve({
      productId: buyer.productId,
      quantity: buyer.quantity ?? 1,
      email: buyer.email,
      ...(buyer.idempotencyKey !== undefined ? { idempotencyKey: buyer.idempotencyKey } : {}),
    });
    if (!result.ok) return { ok: false, code: result.error.code, message: result.error.message, thrown: false };
    let paid: string | null = null;
    if (buyer.pay) {
      const payment = await engine.pay({
        orderId: result.value.id,
        amount: result.value.amount,
        currency: result.value.currency,
        eventId: `evt-${process.pid}-${seq}-${result.value.id}`,
        source: 'webhook',
      });
      paid = payment.effect;
    }
    return { ok: true, orderId: result.value.id, replayed, accessToken: result.value.accessToken, paid };
  } catch (error) {
    return {
      ok: false,
      code: isEngineError(error) ? error.code : 'thrown',
      message: error instanceof Error ? error.message : String(error),
      thrown: true,
    };
  }
}

function buyAll(engine: Engine, buyers: readonly BuyerRequest[]): Promise<BuyerOutcome[]> {
  // All at once: the engine's writer batches them, and the other processes compete for the same lock.
  return Promise.all(buyers.map((buyer, i) => buyOne(engine, buyer, i)));
}

function runChild(dataDir: string): void {
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  const lifetime = setTimeout(() => process.exit(70), CHILD_LIFETIME_MS);
  lifetime.unref();
  process.on('disconnect', () => process.exit(0));

  let engine: Engine;
  try {
    send({ type: 'opening' });
    engine = Engine.open({ dataDir });
  } catch (error) {
    send({ type: 'fatal', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  }
  let armed: readonly BuyerRequest[] = [];
  let stormStop = false;

  const storm = async (request: StormRequest): Promise<StormSummary> => {
    const summary = { reserved: 0, delivered: 0, soldOut: 0, errors: [] as string[] };
    let counter = 0;
    const loop = async (worker: number): Promise<void> => {
      for (let i = 0; i < request.maxPerWorker && !stormStop; i++) {
        const n = counter++;
        const quantity = 1 + (n % 3 === 2 ? 1 : 0);
        try {
          const { result } = await engine.reserve({
            productId: request.productId,
            quantity,
            email: `${request.tag}-${worker}@example.com`,
            idempotencyKey: `${request.tag}-${n}`,
          });
          if (!result.ok) {
            summary.soldOut++;
            if (result.error.code !== 'sold_out') summary.errors.push(`${result.error.code}: ${result.error.message}`);
            return;
          }
          summary.reserved++;
          send({ type: 'progress', progress: { event: 'reserved', orderId: result.value.id, quantity } });
          // Deterministic mix of paid orders and orders left holding their keys.
          if ((n * 7919) % 100 < request.payRatio * 100) {
            const payment = await engine.pay({
              orderId: result.value.id,
              amount: result.value.amount,
              currency: result.value.currency,
              eventId: `${request.tag}-evt-${n}`,
              source: 'webhook',
            });
            if (payment.effect !== 'delivered') summary.errors.push(`payment ${payment.effect}`);
            else summary.delivered++;
            send({ type: 'progress', progress: { event: 'delivered', orderId: result.value.id, quantity } });
          }
        } catch (error) {
          summary.errors.push(error instanceof Error ? error.message : String(error));
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: request.workers }, (_, w) => loop(w)));
    return summary;
  };

  const handle = async (message: ParentMessage): Promise<unknown> => {
    switch (message.op) {
      case 'arm':
        armed = message.buyers;
        return armed.length;
      case 'go': {
        const buyers = armed;
        armed = [];
        return buyAll(engine, buyers);
      }
      case 'buy':
        return buyAll(engine, message.buyers);
      case 'storm':
        stormStop = false;
        return storm(message.storm);
      case 'stop-storm':
        stormStop = true;
        return true;
      case 'stats':
        return { ...engine.writer.stats } satisfies WriterStatsSnapshot;
      case 'close':
        await engine.close();
        setImmediate(() => process.exit(0));
        return true;
    }
  };

  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    handle(message).then(
      (value) => send({ type: 'reply', id: message.id, value }),
      (error: unknown) => send({ type: 'reply', id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  send({ type: 'ready', pid: process.pid });
}

if (process.env[CHILD_ENV] === '1' && process.send !== undefined) {
  const dataDir = process.argv[2];
  if (dataDir === undefined) {
    console.error('usage: buyer-process.ts <dataDir>');
    process.exit(2);
  }
  runChild(dataDir);
}

// ---------------------------------------------------------------------------------------------------
// Parent side

export interface BuyerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the child is about to open its engine (its runtime has started). */
  readonly opening: Promise<void>;
  /** Resolves once the child has opened its engine. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  arm(buyers: readonly BuyerRequest[]): Promise<number>;
  /** Fires the armed buyers; resolves with their outcomes once all have settled. */
  go(): Promise<BuyerOutcome[]>;
  buy(buyers: readonly BuyerRequest[]): Promise<BuyerOutcome[]>;
  storm(request: StormRequest, onProgress: (progress: StormProgress) => void): Promise<StormSummary>;
  stopStorm(): Promise<boolean>;
  stats(): Promise<WriterStatsSnapshot>;
  /** Closes the engine cleanly and waits for the process to exit. */
  close(): Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

const live = new Set<ChildProcess>();

export interface SpawnOptions {
  /** How long the child may take to open its engine. */
  readonly readyTimeoutMs?: number;
  /** How long any one request may take. */
  readonly requestTimeoutMs?: number;
}

/** Starts one buyer process on `dataDir`. */
export function spawnBuyer(dataDir: string, options: SpawnOptions = {}): BuyerProcess {
  const child = fork(SCRIPT, [dataDir], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx/esm'],
    env: { ...process.env, [CHILD_ENV]: '1' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'json',
  });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 20_000) stderr += chunk.toString();
  });

  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const gone = (what: string) =>
    exited.then((how) => Promise.reject(new Error(`buyer ${child.pid} exited (${how}) ${what}\n${stderr}`)));

  let nextId = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const progressListeners = new Set<(progress: StormProgress) => void>();
  let onOpening: () => void = () => undefined;
  const opening = new Promise<void>((resolve) => (onOpening = resolve));
  let onReady: () => void = () => undefined;
  let onReadyFail: (error: Error) => void = () => undefined;

  child.on('message', (raw) => {
    const message = raw as ChildMessage;
    if (message.type === 'opening') onOpening();
    else if (message.type === 'ready') onReady();
    else if (message.type === 'fatal') onReadyFail(new Error(`buyer ${child.pid} failed to open: ${message.error}`));
    else if (message.type === 'progress') for (const listener of progressListeners) listener(message.progress);
    else {
      const entry = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.error !== undefined) entry?.reject(new Error(message.error));
      else entry?.resolve(message.value);
    }
  });

  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  let readyTimer: NodeJS.Timeout | undefined;
  const ready = Promise.race([
    new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onReadyFail = reject;
    }),
    gone('before it was ready'),
    new Promise<never>((_, reject) => {
      readyTimer = setTimeout(
        () => reject(new Error(`buyer ${child.pid} was not ready within ${readyTimeoutMs} ms\n${stderr}`)),
        readyTimeoutMs,
      );
    }),
  ]).finally(() => clearTimeout(readyTimer));
  // A rejected `ready` nobody awaited must not crash the test run.
  ready.catch(() => undefined);

  const requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
  const call = <T>(message: Record<string, unknown> & { op: ParentMessage['op'] }): Promise<T> => {
    const id = nextId++;
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`buyer ${child.pid}: ${message.op} took longer than ${requestTimeoutMs} ms\n${stderr}`));
      }, requestTimeoutMs);
    }).finally(() => clearTimeout(timer));
    if (!child.connected) return gone(`before ${message.op}`);
    child.send({ ...message, id });
    return Promise.race([answer, gone(`during ${message.op}`)]);
  };

  const kill = (signal: NodeJS.Signals = 'SIGKILL'): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };

  return {
    child,
    pid: child.pid ?? -1,
    opening,
    ready,
    exited,
    arm: (buyers) => call<number>({ op: 'arm', buyers }),
    go: () => call<BuyerOutcome[]>({ op: 'go' }),
    buy: (buyers) => call<BuyerOutcome[]>({ op: 'buy', buyers }),
    storm: (storm, onProgress) => {
      progressListeners.add(onProgress);
      const done = call<StormSummary>({ op: 'storm', storm });
      const off = () => progressListeners.delete(onProgress);
      done.then(off, off);
      return done;
    },
    stopStorm: () => call<boolean>({ op: 'stop-storm' }),
    stats: () => call<WriterStatsSnapshot>({ op: 'stats' }),
    close: async () => {
      // The child exits right after it answers; only the exit matters.
      call<boolean>({ op: 'close' }).catch(() => undefined);
      return exited;
    },
    kill,
  };
}

/** Starts `count` buyer processes in parallel and waits until every one has opened its engine. */
export async function spawnBuyers(dataDir: string, count: number, options: SpawnOptions = {}): Promise<BuyerProcess[]> {
  const procs = Array.from({ length: count }, () => spawnBuyer(dataDir, options));
  try {
    await Promise.all(procs.map((p) => p.ready));
  } catch (error) {
    await Promise.all(procs.map((p) => p.kill()));
    throw error;
  }
  return procs;
}

/** SIGKILLs every buyer process still running and waits until they are gone. */
export async function killAllBuyers(): Promise<void> {
  const children = [...live];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            live.delete(child);
            resolve();
            return;
          }
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Splits `items` round-robin into `parts` lists. */
export function deal<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((item, i) => out[i % parts]!.push(item));
  return out;
}
