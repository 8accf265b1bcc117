/**
 * Fingerprints and seals imported codes chunk by chunk. Crypto is most of an import's CPU time (an HMAC
 * and an AES-256-GCM seal per code), so a big import does it in worker threads (two, chunks taking
 * turns) while the main thread parses and stages the previous chunk; a small one does it inline. Both
 * produce exactly what crypto.ts's `fingerprint` and `seal` would (the import tests check the worker's
 * output with `open`).
 *
 * The worker is plain JavaScript evaluated from a string, so it needs no loader or bundler entry. It
 * receives the two working keys at start (they stay in this process) and never sees more than a chunk.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { fingerprint, keyAad, seal, type VaultKeys } from './crypto';

export interface Prepared {
  readonly fingerprints: Uint8Array[];
  readonly sealed: Uint8Array[];
}

export interface CryptoStageOptions {
  /** False for a preview: fingerprints only, placeholder (empty) sealed values. */
  readonly seal: boolean;
  /** Use a worker thread after this many codes have gone through inline (0: at once; Infinity: never). */
  readonly workerAfter?: number;
}

const EMPTY = new Uint8Array(0);

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createCipheriv, hash, createHmac, randomFillSync } = require('node:crypto');
const { sealKey, fingerprintKey, aadPrefix, doSeal } = workerData;
const fpKey = Buffer.from(fingerprintKey);
const sKey = Buffer.from(sealKey);
const prefix = Buffer.from(aadPrefix);
const oneShot = typeof hash === 'function';
// HMAC-SHA256 by hand (RFC 2104) with one-shot hashes: the same value as createHmac, without an object per code.
const inner = Buffer.alloc(64 + 4096);
const outer = Buffer.alloc(96);
for (let i = 0; i < 64; i++) {
  const k = i < fpKey.length ? fpKey[i] : 0;
  inner[i] = k ^ 0x36;
  outer[i] = k ^ 0x5c;
}
function hmac(code, out, at) {
  const n = Buffer.byteLength(code, 'utf8');
  if (!oneShot || n > 4096) return createHmac('sha256', fpKey).update(code, 'utf8').digest().copy(out, at);
  inner.write(code, 64, 'utf8');
  hash('sha256', inner.subarray(0, 64 + n), 'buffer').copy(outer, 64);
  hash('sha256', outer, 'buffer').copy(out, at);
}
const ivPool = Buffer.alloc(12 * 4096);
let ivAt = ivPool.length;
const aad = Buffer.alloc(prefix.length + 32);
prefix.copy(aad, 0);
parentPort.on('message', ({ id, codes }) => {
  const count = codes.length;
  const fps = Buffer.alloc(count * 32);
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += 29 + Buffer.byteLength(codes[i], 'utf8');
  const sealed = Buffer.alloc(doSeal ? bytes : 0);
  const offsets = new Uint32Array(count + 1);
  let at = 0;
  for (let i = 0; i < count; i++) {
    hmac(codes[i], fps, i * 32);
    if (doSeal) {
      if (ivAt >= ivPool.length) { randomFillSync(ivPool); ivAt = 0; }
      const iv = ivPool.subarray(ivAt, ivAt + 12);
      ivAt += 12;
      fps.copy(aad, prefix.length, i * 32, i * 32 + 32);
      const cipher = createCipheriv('aes-256-gcm', sKey, iv);
      cipher.setAAD(aad);
      const body = cipher.update(codes[i], 'utf8');
      cipher.final();
      sealed[at] = 1;
      iv.copy(sealed, at + 1);
      cipher.getAuthTag().copy(sealed, at + 13);
      body.copy(sealed, at + 29);
      offsets[i] = at;
      at += 29 + body.length;
    }
  }
  offsets[count] = at;
  // The buffers are the worker's own (Buffer.alloc, not the pool): moved, not copied.
  parentPort.postMessage({ id, fps: fps.buffer, fpsOffset: fps.byteOffset, sealed: sealed.buffer, sealedOffset: sealed.byteOffset, offsets }, doSeal ? [fps.buffer, sealed.buffer, offsets.buffer] : [fps.buffer, offsets.buffer]);
});
`;

interface WorkerReply {
  readonly id: number;
  readonly fps: ArrayBuffer;
  readonly fpsOffset: number;
  readonly sealed: ArrayBuffer;
  readonly sealedOffset: number;
  readonly offsets: Uint32Array;
}

/** One crypto worker thread and the chunks it has been given. */
class CryptoWorker {
  private readonly waiting = new Map<number, { resolve: (p: Prepared) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly worker: Worker,
    unpack: (reply: WorkerReply) => Prepared,
    fail: (error: Error) => void,
  ) {
    worker.on('message', (reply: WorkerReply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if (this.waiting.size === 0) worker.unref();
      waiter.resolve(unpack(reply));
    });
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.waiting.size > 0) fail(new Error(`the import's crypto worker stopped (exit ${code})`));
    });
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
  }

  process(id: number, codes: readonly string[]): Promise<Prepared> {
    return new Promise<Prepared>((resolve, reject) => {
      // A chunk in the worker keeps the process alive until its answer; an idle worker does not.
      if (this.waiting.size === 0) this.worker.ref();
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, codes });
    });
  }

  rejectAll(error: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  terminate(): void {
    void this.worker.terminate();
  }
}

/**
 * Worker threads for a big import: with one, the crypto (about 6 us a code) was the import's bottleneck
 * and the main thread, which only stages (about 3 us), waited for it. Chunks alternate between them.
 */
const WORKERS = Math.min(2, availableParallelism());

export class CryptoStage {
  /** Started on first use, by slot. */
  private readonly workers: (CryptoWorker | undefined)[] = [];
  private failed: Error | null = null;
  private nextId = 1;
  private inline = 0;
  private readonly workerAfter: number;

  constructor(
    private readonly vault: VaultKeys,
    private readonly productId: string,
    private readonly options: CryptoStageOptions,
  ) {
    this.workerAfter = options.workerAfter ?? 20_000;
  }

  process(codes: readonly string[]): Promise<Prepared> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.inline < this.workerAfter) {
      this.inline += codes.length;
      return Promise.resolve(this.processInline(codes));
    }
    const id = this.nextId++;
    const slot = id % WORKERS;
    const worker = this.workers[slot] ?? (this.workers[slot] = this.startWorker());
    return worker.process(id, codes);
  }

  processInline(codes: readonly string[]): Prepared {
    const fingerprints: Uint8Array[] = new Array<Uint8Array>(codes.length);
    const sealed: Uint8Array[] = new Array<Uint8Array>(codes.length);
    for (let i = 0; i < codes.length; i++) {
      const code = codes[i]!;
      const fp = fingerprint(this.vault.fingerprintKey, code);
      fingerprints[i] = fp;
      sealed[i] = this.options.seal ? seal(this.vault.sealKey, code, keyAad(this.productId, fp)) : EMPTY;
    }
    return { fingerprints, sealed };
  }

  private startWorker(): CryptoWorker {
    const aadPrefix = keyAad(this.productId, Buffer.alloc(0));
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // V8's default young generation lets each worker's heap grow by tens of MB between collections;
      // with 8 MB, a million-code import peaks about 50 MB lower (bench/import-bench.ts), as fast.
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
      workerData: {
        sealKey: new Uint8Array(this.vault.sealKey),
        fingerprintKey: new Uint8Array(this.vault.fingerprintKey),
        aadPrefix: new Uint8Array(aadPrefix),
        doSeal: this.options.seal,
      },
    });
    const fail = (error: Error): void => {
      this.failed = error;
      for (const other of this.workers) other?.rejectAll(error);
    };
    return new CryptoWorker(worker, (reply) => this.unpack(reply), fail);
  }

  private unpack(reply: WorkerReply): Prepared {
    const count = reply.offsets.length - 1;
    const fingerprints: Uint8Array[] = new Array<Uint8Array>(count);
    const sealed: Uint8Array[] = new Array<Uint8Array>(count);
    const fps = Buffer.from(reply.fps, reply.fpsOffset, count * 32);
    const box = Buffer.from(reply.sealed, reply.sealedOffset);
    for (let i = 0; i < count; i++) {
      fingerprints[i] = fps.subarray(i * 32, i * 32 + 32);
      sealed[i] = this.options.seal ? box.subarray(reply.offsets[i], reply.offsets[i + 1]) : EMPTY;
    }
    return { fingerprints, sealed };
  }

  close(): void {
    for (const worker of this.workers.splice(0)) worker?.terminate();
  }
}
