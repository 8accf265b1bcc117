/**
 * One set of cases, run through both transports the admin app has: HTTP (browser mode: the real
 * endpoint on 127.0.0.1, fetch, server-sent events) and IPC (the desktop shell's main-side handler
 * from src-main/electron/ipc.ts and the preload's bridge, joined by a fake ipcMain/ipcRenderer pair).
 * The renderer must not be able to tell them apart: same values, same error codes, same events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { METHODS, type AppEvent, type MethodName } from '../shared/rpc';
import { createBridge } from '../src-main/electron/bridge';
import { registerIpc, trustedPage } from '../src-main/electron/ipc';
import { startHttpServer } from '../src-main/http/server';
import { createHttpTransport } from '../src-renderer/transport/http-transport';
import { createIpcTransport } from '../src-renderer/transport/ipc';
import { TransportError, type Transport } from '../src-renderer/transport/types';
import { eventSourceWith } from './helpers/event-source';
import { FakeIpc } from './helpers/fake-ipc';
import { ADMIN_TOKEN, send, WEBHOOK_SECRET } from './helpers/http';
import { openShop } from './helpers/shop';

const RENDERER_URL = 'file:///opt/OnceKey/resources/app/out/renderer/index.html';

interface Rig {
  readonly transport: Transport;
  /** The same transport from a caller that must be refused (no token / a foreign frame). */
  readonly stranger: Transport;
  readonly url: string;
  readonly productId: string;
  /** Resolves once live events reach the transport (the event stream is open). */
  readonly live: Promise<void>;
  close(): Promise<void>;
}

async function shopWithServer() {
  const shop = await openShop({ keys: 2 });
  const server = await startHttpServer(shop.engine, {
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN_TOKEN,
    webhookSecret: WEBHOOK_SECRET,
    rateLimitPerMinute: 0,
  });
  return { shop, server };
}

async function httpRig(): Promise<Rig> {
  const { shop, server } = await shopWithServer();
  const withHeaders =
    (headers: Record<string, string>): typeof fetch =>
    (input, init) =>
      fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } });
  let markLive: () => void = () => undefined;
  const live = new Promise<void>((done) => (markLive = done));
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  return {
    transport: createHttpTransport({
      baseUrl: server.url,
      fetch: withHeaders(auth),
      EventSource: eventSourceWith(auth, markLive),
    }),
    stranger: createHttpTransport({ baseUrl: server.url, fetch: withHeaders({}) }),
    url: server.url,
    productId: shop.productId,
    live,
    close: async () => {
      await server.close();
      await shop.cleanup();
    },
  };
}

async function ipcRig(): Promise<Rig> {
  const { shop, server } = await shopWithServer();
  const ours = new FakeIpc(`${RENDERER_URL}#/orders`, 1);
  const foreign = new FakeIpc('https://evil.example/index.html', 2);
  const stops = [ours, foreign].map((ipc) =>
    registerIpc(ipc.main, { engine: shop.engine, isTrusted: trustedPage(RENDERER_URL) }),
  );
  return {
    transport: createIpcTransport(createBridge(ours.renderer)),
    stranger: createIpcTransport(createBridge(foreign.renderer)),
    url: server.url,
    productId: shop.productId,
    live: Promise.resolve(), // subscribing over IPC takes effect before subscribe() returns
    close: async () => {
      for (const stop of stops) stop();
      await server.close();
      await shop.cleanup();
    },
  };
}

async function rejection(promise: Promise<unknown>): Promise<TransportError> {
  const error: unknown = await promise.then(
    () => new Error('expected the call to fail'),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TransportError);
  return error as TransportError;
}

/** Collects events until `count` matching ones arrived (bounded by the test timeout). */
function collect(
  transport: Transport,
  count: number,
  match: (event: AppEvent) => boolean,
): { events: Promise<AppEvent[]>; stop: () => void } {
  const seen: AppEvent[] = [];
  let stop: () => void = () => undefined;
  const events = new Promise<AppEvent[]>((done) => {
    stop = transport.subscribe((event) => {
      if (!match(event)) return;
      seen.push(event);
      if (seen.length === count) done(seen);
    });
  });
  return { events, stop };
}

describe.each([
  ['HTTP', httpRig],
  ['IPC', ipcRig],
] as const)('the %s transport', (_name, makeRig) => {
  let rig: Rig | null = null;
  afterEach(async () => {
    await rig?.close();
    rig = null;
  });

  it('lists products, creates one, and lists it, with outputs that match the contract', async () => {
    rig = await makeRig();
    const before = await rig.transport.call('products.list', {});
    expect(METHODS['products.list'].output.parse(before)).toEqual(before);
    expect(before.products.map((p) => p.name)).toEqual(['Steam 50']);

    const { product } = await rig.transport.call('products.create', {
      name: 'Gift card 100',
      price: { amount: 10000, currency: 'CNY' },
    });
    expect(product).toMatchObject({ name: 'Gift card 100', price: { amount: 10000, currency: 'CNY' } });
    const after = await rig.transport.call('products.list', {});
    expect(after.products.map((p) => p.id)).toContain(product.id);
  });

  it('refuses invalid input with validation_failed and stores nothing', async () => {
    rig = await makeRig();
    const error = await rejection(rig.transport.call('products.create', { name: '', price: { amount: 100, currency: 'CNY' } }));
    expect(error.code).toBe('validation_failed');
    expect(error.message).toMatch(/name/);
    const { products } = await rig.transport.call('products.list', {});
    expect(products).toHaveLength(1);
  });

  it('configures a payment channel and lists it without its secret, and refuses bad settings', async () => {
    rig = await makeRig();
    const secret = 'transportMerchantKey0123456789';
    const refused = await rejection(
      rig.transport.call('payments.configure', { channel: 'epay', settings: { gateway: 'ftp://pay.example.com', pid: '1' } }),
    );
    expect(refused.code).toBe('validation_failed');
    const { channel } = await rig.transport.call('payments.configure', {
      channel: 'epay',
      settings: { gateway: 'https://pay.example.com', pid: '1001', key: secret },
    });
    expect(channel).toMatchObject({ name: 'epay', configured: true, enabled: true });
    const listed = await rig.transport.call('payments.list', {});
    expect(METHODS['payments.list'].output.parse(listed)).toEqual(listed);
    expect(listed.channels.map((c) => c.name)).toEqual(['epay']);
    expect(JSON.stringify(listed)).not.toContain(secret);
    expect((await rig.transport.call('payments.test', { channel: 'epay' })).ok).toBe(true);
  });

  it('answers an unknown method with not_found', async () => {
    rig = await makeRig();
    const error = await rejection(rig.transport.call('products.nope' as MethodName, {}));
    expect(error.code).toBe('not_found');
    expect(error.message).toContain('products.nope');
  });

  it('passes a handler error code through (product_not_found)', async () => {
    rig = await makeRig();
    const error = await rejection(rig.transport.call('products.stock', { id: 'prd_missing' }));
    expect(error.code).toBe('product_not_found');
  });

  it('refuses a caller that is not our app (no token / a foreign frame) with unauthorized', async () => {
    rig = await makeRig();
    const error = await rejection(rig.stranger.call('products.list', {}));
    expect(error.code).toBe('unauthorized');
  });

  it('delivers the order and stock events of a purchase made over HTTP', async () => {
    rig = await makeRig();
    const { events, stop } = collect(rig.transport, 2, (event) => 'productId' in event && event.productId === rig?.productId);
    await rig.live;
    const res = await send(rig.url, '/api/v1/orders', {
      method: 'POST',
      headers: { 'idempotency-key': `conformance-${Date.now()}` },
      body: { productId: rig.productId, quantity: 1, email: 'buyer@example.com' },
    });
    expect(res.status).toBe(201);
    const orderId = (res.json as { order: { id: string } }).order.id;
    const received = await events;
    stop();
    expect(received).toEqual(
      expect.arrayContaining([
        { type: 'order', orderId, productId: rig.productId, status: 'reserved' },
        { type: 'stock', productId: rig.productId },
      ]),
    );
    const stock = await rig.transport.call('products.stock', { id: rig.productId });
    expect(stock).toMatchObject({ available: 1, reserved: 1 });
  });
});

describe('the IPC handler', () => {
  it('stops forwarding events to a window once it unsubscribes or is destroyed', async () => {
    const { shop, server } = await shopWithServer();
    try {
      const ipc = new FakeIpc(RENDERER_URL);
      const stopIpc = registerIpc(ipc.main, { engine: shop.engine, isTrusted: trustedPage(RENDERER_URL) });
      const bridge = createBridge(ipc.renderer);
      const seen: AppEvent[] = [];
      const unsubscribe = bridge.subscribe((event) => seen.push(event));
      shop.engine.events.emit({ type: 'stock', productId: shop.productId });
      expect(seen).toHaveLength(1);
      unsubscribe();
      shop.engine.events.emit({ type: 'stock', productId: shop.productId });
      expect(seen).toHaveLength(1);

      bridge.subscribe((event) => seen.push(event));
      ipc.destroy();
      shop.engine.events.emit({ type: 'stock', productId: shop.productId });
      expect(seen).toHaveLength(1);
      stopIpc();
      expect(ipc.mainListenerCount).toBe(0);
    } finally {
      await server.close();
      await shop.cleanup();
    }
  });

  it('accepts only the top frame of our renderer page', () => {
    const isTrusted = trustedPage(RENDERER_URL);
    expect(isTrusted(`${RENDERER_URL}#/settings`)).toBe(true);
    expect(isTrusted(`${RENDERER_URL}?x=1`)).toBe(true);
    expect(isTrusted('file:///tmp/index.html')).toBe(false);
    expect(isTrusted('https://example.com/opt/OnceKey/resources/app/out/renderer/index.html')).toBe(false);
    expect(isTrusted('not a url')).toBe(false);
  });
});
