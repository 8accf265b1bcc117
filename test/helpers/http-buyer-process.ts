/**
 * HTTP buyers in a process of their own, which may run on another host (inside a network namespace,
 * test/helpers/netns.ts) where only that host's servers are reachable. This file is both:
 *
 * - the child script, run as `node --import tsx/esm test/helpers/http-buyer-process.ts` (through
 *   `ip netns exec <host>` when given a `wrap`): it says `ready`, then does what the parent asks over the
 *   IPC channel (which passes through `ip netns exec`, an exec, untouched);
 * - the parent's side (`spawnHttpBuyers`), and `buyOverHttp`, the buying loop both sides run.
 *
 * A storm is armed first (the buyers and their server) and fired by a tiny `go`, so buyers in several
 * processes and on several hosts really meet at the database. `probe` tries TCP connections to ports of
 * 127.0.0.1 as this host sees them: what makes a namespace a separate host is that the other hosts'
 * servers refuse it.
 *
 * The child never outlives its parent: it exits when the IPC channel closes, and after a hard time limit.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freshKey, pool, send, type HttpResponse } from './http';

const SCRIPT = fileURLToPath(import.meta.url);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD_ENV = 'ONCEKEY_HTTP_BUYER_CHILD';
const CHILD_LIFETIME_MS = 180_000;

/** One buyer's answer: the HTTP status (0: no answer, the connection failed) and a problem's `code`. */
export interface HttpBuyerOutcome {
  readonly status: number;
  readonly code?: string;
  readonly orderId?: string;
}

export interface HttpStorm {
  /** The servers to spread the buyers over, round-robin. */
  readonly urls: readonly string[];
  readonly productId: string;
  readonly buyers: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** E-mail prefix, unique per storm. */
  readonly tag: string;
}

/** Every buyer orders one unit with an idempotency key of its own; the answers in buyer order. */
export async function buyOverHttp(storm: HttpStorm): Promise<HttpBuyerOutcome[]> {
  const answers = await pool(
    Array.from({ length: storm.buyers }, (_, i) => i),
    storm.concurrency,
    (i) =>
      send(storm.urls[i % storm.urls.length]!, '/api/v1/orders', {
        method: 'POST',
        headers: { 'idempotency-key': freshKey() },
        body: { productId: storm.productId, quantity: 1, email: `${storm.tag}-${i}@example.com` },
      }).catch((): HttpResponse => ({ status: 0, headers: {}, text: '', json: undefined })),
  );
  return answers.map((r) => {
    const body = r.json as { code?: unknown; order?: { id?: unknown } } | undefined;
    return {
      status: r.status,
      ...(typeof body?.code === 'string' ? { code: body.code } : {}),
      ...(typeof body?.order?.id === 'string' ? { orderId: body.order.id } : {}),
    };
  });
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted here; `error` is the refusal's code. */
export interface PortProbe {
  readonly port: number;
  readonly reachable: boolean;
  readonly error?: string;
}

function probePort(port: number): Promise<PortProbe> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, timeout: 3_000 });
    socket.once('connect', () => {
      // TCP's self-connect: with nothing listening, a connect whose ephemeral source port happens to be
      // the port asked for connects to itself. That is no server.
      const self = socket.localPort === port;
      socket.destroy();
      resolve(self ? { port, reachable: false, error: 'self-connect' } : { port, reachable: true });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ port, reachable: false, error: 'ETIMEDOUT' });
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      resolve({ port, reachable: false, error: error.code ?? error.message }),
    );
  });
}

// ---------------------------------------------------------------------------------------------------
// Child side

type ParentMessage =
  | { readonly id: number; readonly op: 'probe'; readonly ports: readonly number[] }
  | { readonly id: number; readonly op: 'arm'; readonly storm: HttpStorm }
  | { readonly id: number; readonly op: 'go' };

type ChildMessage =
  { readonly type: 'ready' } | { readonly type: 'reply'; readonly id: number; readonly value?: unknown; readonly error?: string };

function runChild(): void {
  const reply = (message: ChildMessage): void => {
    process.send?.(message);
  };
  setTimeout(() => process.exit(70), CHILD_LIFETIME_MS).unref();
  process.on('disconnect', () => process.exit(0));
  let armed: HttpStorm | undefined;
  const handle = async (message: ParentMessage): Promise<unknown> => {
    switch (message.op) {
      case 'probe':
        return Promise.all(message.ports.map(probePort));
      case 'arm':
        armed = message.storm;
        return armed.buyers;
      case 'go': {
        if (!armed) throw new Error('go before arm');
        const storm = armed;
        armed = undefined;
        return buyOverHttp(storm);
      }
    }
  };
  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    handle(message).then(
      (value) => reply({ type: 'reply', id: message.id, value }),
      (error: unknown) => reply({ type: 'reply', id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  reply({ type: 'ready' });
}

if (process.env[CHILD_ENV] === '1' && process.send !== undefined) runChild();

// ---------------------------------------------------------------------------------------------------
// Parent side

export interface HttpBuyerProcess {
  readonly child: ChildProcess;
  /** Resolves once the child runs and listens for requests. */
  readonly ready: Promise<void>;
  probe(ports: readonly number[]): Promise<PortProbe[]>;
  arm(storm: HttpStorm): Promise<number>;
  /** Fires the armed storm; resolves with every buyer's answer. */
  go(): Promise<HttpBuyerOutcome[]>;
  /** SIGKILL (if still running); resolves once it is gone. */
  kill(): Promise<void>;
}

/**
 * Starts the buyer process, inside a host when `wrap` is given (NetnsHost.wrap). Each request, and the
 * start, is bounded by `timeoutMs`.
 */
export function spawnHttpBuyer(
  options: { wrap?: (command: string, args: readonly string[]) => { file: string; args: string[] }; timeoutMs?: number } = {},
): HttpBuyerProcess {
  const node = [process.execPath, '--import', 'tsx/esm'];
  const wrapped = options.wrap ? options.wrap(node[0]!, node.slice(1)) : { file: node[0]!, args: node.slice(1) };
  // fork runs `<execPath> <execArgv> <script>` with an IPC channel: `ip netns exec ... node --import tsx/esm <script>`.
  const child = fork(SCRIPT, [], {
    cwd: ROOT,
    execPath: wrapped.file,
    execArgv: wrapped.args,
    env: { ...process.env, [CHILD_ENV]: '1' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'json',
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 20_000) stderr += chunk.toString();
  });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(String(code ?? signal))));
  const gone = (what: string): Promise<never> =>
    exited.then((how) => Promise.reject(new Error(`http buyer ${child.pid} exited (${how}) ${what}\n${stderr}`)));
  const timeoutMs = options.timeoutMs ?? 120_000;
  const within = <T>(promise: Promise<T>, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`http buyer ${child.pid}: ${what} took over ${timeoutMs} ms\n${stderr}`)),
        timeoutMs,
      );
    });
    return Promise.race([promise, late, gone(what)]).finally(() => clearTimeout(timer));
  };

  let nextId = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let onReady: () => void = () => undefined;
  const ready = within(new Promise<void>((resolve) => (onReady = resolve)), 'starting');
  ready.catch(() => undefined);
  child.on('message', (raw) => {
    const message = raw as ChildMessage;
    if (message.type === 'ready') return onReady();
    const entry = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error !== undefined) entry?.reject(new Error(message.error));
    else entry?.resolve(message.value);
  });
  const call = <T>(message: { op: ParentMessage['op'] } & Record<string, unknown>): Promise<T> => {
    const id = nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
    if (!child.connected) return gone(`before ${message.op}`);
    child.send({ ...message, id });
    return within(answer, message.op).finally(() => waiting.delete(id));
  };

  return {
    child,
    ready,
    probe: (ports) => call<PortProbe[]>({ op: 'probe', ports }),
    arm: (storm) => call<number>({ op: 'arm', storm }),
    go: () => call<HttpBuyerOutcome[]>({ op: 'go' }),
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
