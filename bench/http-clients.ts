/**
 * The load generators of the HTTP benchmark, run in a child process of their own (this file, forked
 * once per benchmark) so the server keeps a core to itself on a two-core machine:
 *
 * - `closed`: autocannon with N keep-alive connections, each sending its next order when the last is
 *   answered (throughput and its latency).
 * - `burst`: N buyers arriving at the same instant, each on a fresh connection (what a flash sale's
 *   first second looks like to the server); latency includes the TCP connect.
 * - `open`: a constant arrival rate whatever the server does (requests are sent on schedule, and a
 *   request's latency counts from when it was due, so a stalled server cannot hide its queue).
 *
 * Every order carries a distinct Idempotency-Key `<prefix>-<n>`, so the parent can count the orders each
 * load made. Every load is bounded in count and in time.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { percentile } from './rounds';

export type ClientTask =
  | {
      readonly kind: 'closed';
      readonly url: string;
      readonly connections: number;
      readonly seconds: number;
      readonly productId: string;
      readonly prefix: string;
      /** `GET /api/v1/health` instead of orders: the endpoint's own floor (same server and hooks, no body, no engine). */
      readonly health?: boolean;
    }
  | { readonly kind: 'burst'; readonly url: string; readonly buyers: number; readonly productId: string; readonly prefix: string }
  | {
      readonly kind: 'open';
      readonly url: string;
      readonly perSecond: number;
      readonly seconds: number;
      readonly productId: string;
      readonly prefix: string;
    };

export interface LoadResult {
  readonly perSecond: number;
  readonly p99: number;
  /** 201 answers received. */
  readonly created: number;
  /** Transport errors and timeouts. */
  readonly errors: number;
  /** Answers other than 2xx. */
  readonly non2xx: number;
  /** Requests started (one Idempotency-Key each) and answers received: the difference was cut off by the end of the run. */
  readonly started: number;
  readonly answered: number;
  /** Every answered request's latency (bursts only: the parent pools them over repeats). */
  readonly latenciesMs?: readonly number[];
}

const SELF = fileURLToPath(import.meta.url);
const REQUEST_TIMEOUT_MS = 10_000;

const orderBody = (productId: string): string => JSON.stringify({ productId, quantity: 1, email: 'bench@example.com' });

/** The part of autocannon's API used here (it ships no types). */
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats?: Record<string, { count: number | string }>;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

/** Closed loop: autocannon, `connections` keep-alive connections. Also used in-process by the parent. */
export async function closedLoad(task: Extract<ClientTask, { kind: 'closed' }>): Promise<LoadResult> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  let counter = 0;
  const body = orderBody(task.productId);
  const request: AutocannonRequest = task.health
    ? { method: 'GET', path: '/api/v1/health' }
    : {
        method: 'POST',
        path: '/api/v1/orders',
        setupRequest: (sent) => ({
          ...sent,
          headers: { 'content-type': 'application/json', 'idempotency-key': `${task.prefix}-${++counter}` },
          body,
        }),
      };
  const result = await autocannon({ url: task.url, connections: task.connections, duration: task.seconds, requests: [request] });
  const stats = result.statusCodeStats ?? {};
  return {
    perSecond: result.requests.average,
    p99: result.latency.p99,
    created: Number(stats['201']?.count ?? 0),
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    started: counter,
    answered: result.requests.total,
  };
}

interface Answer {
  readonly status: number | null;
  readonly ms: number;
}

/** One order request; `since` is when its latency starts counting (the send, or when it was due). */
function order(url: URL, body: string, key: string, agent: Agent | false, since = performance.now()): Promise<Answer> {
  return new Promise((resolve) => {
    const done = (status: number | null): void => resolve({ status, ms: performance.now() - since });
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: '/api/v1/orders',
        method: 'POST',
        agent,
        timeout: REQUEST_TIMEOUT_MS,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'idempotency-key': key,
          ...(agent === false ? { connection: 'close' } : {}),
        },
      },
      (res) => {
        res.resume();
        res.once('end', () => done(res.statusCode ?? null));
        res.once('error', () => done(null));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => done(null));
    req.end(body);
  });
}

function summarize(answers: readonly Answer[], started: number, seconds: number): LoadResult {
  const answered = answers.filter((a) => a.status !== null);
  return {
    perSecond: answered.length / seconds,
    p99:
      answered.length > 0
        ? Number(
            percentile(
              answered.map((a) => a.ms),
              99,
            ).toFixed(2),
          )
        : Number.NaN,
    created: answered.filter((a) => a.status === 201).length,
    errors: answers.length - answered.length,
    non2xx: answered.filter((a) => a.status! < 200 || a.status! > 299).length,
    started,
    answered: answered.length,
  };
}

/** `buyers` orders sent in the same instant, each on a new connection. */
async function burst(task: Extract<ClientTask, { kind: 'burst' }>): Promise<LoadResult> {
  const url = new URL(task.url);
  const body = orderBody(task.productId);
  const start = performance.now();
  const answers = await Promise.all(
    Array.from({ length: task.buyers }, (_, i) => order(url, body, `${task.prefix}-${i}`, false)),
  );
  const summary = summarize(answers, task.buyers, (performance.now() - start) / 1000);
  return { ...summary, latenciesMs: answers.filter((a) => a.status !== null).map((a) => a.ms) };
}

/** `perSecond` orders a second for `seconds`, sent on schedule over keep-alive connections. */
async function openLoop(task: Extract<ClientTask, { kind: 'open' }>): Promise<LoadResult> {
  const url = new URL(task.url);
  const body = orderBody(task.productId);
  const agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  const total = Math.round(task.perSecond * task.seconds);
  const gapMs = 1000 / task.perSecond;
  const pending: Promise<Answer>[] = [];
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / gapMs) + 1);
      while (pending.length < due) {
        const i = pending.length;
        pending.push(order(url, body, `${task.prefix}-${i}`, agent, t0 + i * gapMs));
      }
      if (pending.length < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const answers = await Promise.all(pending);
  agent.destroy();
  return summarize(answers, total, task.seconds);
}

function runTask(task: ClientTask): Promise<LoadResult> {
  switch (task.kind) {
    case 'closed':
      return closedLoad(task);
    case 'burst':
      return burst(task);
    case 'open':
      return openLoop(task);
  }
}

/** The child process that runs the loads, one task at a time. */
export class ClientProcess {
  private readonly child: ChildProcess;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child = fork(SELF, ['--client-child'], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: { id: number; result?: LoadResult; error?: string }) => {
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.result) waiter?.resolve(message.result);
      else waiter?.reject(new Error(message.error ?? 'the load child failed'));
    });
    this.child.once('exit', (code) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`the load child exited with ${code}`));
      this.waiting.clear();
    });
  }

  run(task: ClientTask): Promise<LoadResult> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.send({ id, task });
    });
  }

  close(): void {
    this.child.kill();
  }
}

if (process.argv.includes('--client-child')) {
  process.on('message', (message: { id: number; task: ClientTask }) => {
    runTask(message.task).then(
      (result) => process.send?.({ id: message.id, result }),
      (error: unknown) => process.send?.({ id: message.id, error: String(error) }),
    );
  });
  process.once('disconnect', () => process.exit(0));
}
