/** The simulator's RPC methods through the dispatcher: a live run, a deterministic session stepped by hand, bad input. */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { MethodName } from '../shared/rpc';
import { preset } from '../shared/sim';
import { sqliteContext } from '../src-main/rpc/dispatcher';
import { simSessions } from '../src-main/rpc/handlers/sim';
import { rpcClient } from './helpers/rpc';
import { openShop } from './helpers/shop';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(() => simSessions.closeAll());

async function setup() {
  const shop = await openShop();
  cleanups.push(shop.cleanup);
  const { call, fails } = rpcClient(sqliteContext(shop.engine, 'test'), { strict: true });
  const fail = async (method: MethodName, input: unknown): Promise<string> => (await fails(method, input)).code;
  return { call, fail };
}

describe('sim.* RPC', () => {
  it('sim.run runs the incident live in worker threads and names the oversell', async () => {
    const { call } = await setup();
    const result = await call('sim.run', { scenario: { ...preset('incident'), buyers: 30 }, mode: 'live' });
    expect(result.summary).toMatchObject({ mode: 'live', strategy: 'naive', buyers: 30 });
    expect(result.summary.oversold).toBeGreaterThan(0);
    expect(result.anomalies.map((a) => a.name)).toContain('oversold');
    expect(result.history.events.filter((e) => e.step === 'invoke')).toHaveLength(30);
  });

  it('a session: start, step a chosen buyer, step by seed, back, finish, result, close', async () => {
    const { call, fail } = await setup();
    const started = await call('sim.session.start', { scenario: { ...preset('incident'), buyers: 2 } });
    expect(started).toMatchObject({ steps: 0, finished: false, runnable: [0, 1], events: [] });
    const id = started.sessionId;
    const one = await call('sim.session.step', { sessionId: id, buyer: 1 });
    expect(one.events.map((e) => [e.buyer, e.step])).toEqual([
      [1, 'invoke'],
      [1, 'read'],
      [1, 'think'],
    ]);
    await call('sim.session.step', { sessionId: id });
    expect((await call('sim.session.back', { sessionId: id })).steps).toBe(1);
    const done = await call('sim.session.finish', { sessionId: id });
    expect(done.finished).toBe(true);
    const result = await call('sim.session.result', { sessionId: id });
    expect(result.summary.mode).toBe('deterministic');
    expect(result.history.events).toHaveLength(done.events.length);
    expect(await fail('sim.session.step', { sessionId: id })).toBe('validation_failed');
    expect(await call('sim.session.close', { sessionId: id })).toEqual({ closed: true });
    expect(await fail('sim.session.step', { sessionId: id })).toBe('not_found');
  });

  it('sim.enumerate and sim.compare answer for every strategy', async () => {
    const { call } = await setup();
    const { results } = await call('sim.enumerate', { buyers: 2, strategy: 'naive' });
    expect(results).toEqual([expect.objectContaining({ strategy: 'naive', interleavings: 16, broken: 12 })]);
    const compared = await call('sim.compare', { scenario: { ...preset('incident'), buyers: 6 }, mode: 'deterministic' });
    expect(compared.results.map((r) => r.strategy)).toHaveLength(8);
  });

  it('refuses a bad scenario before running anything', async () => {
    const { fail } = await setup();
    expect(await fail('sim.run', { scenario: { ...preset('incident'), strategy: 'yolo' }, mode: 'live' })).toBe(
      'validation_failed',
    );
    expect(await fail('sim.session.start', { scenario: { ...preset('incident'), buyers: 5000 } })).toBe('validation_failed');
  });
});
