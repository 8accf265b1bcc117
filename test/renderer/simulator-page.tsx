/**
 * What the Simulator page's tests share (simulator.test.tsx, simulator-engines.test.tsx): jsdom's
 * missing ResizeObserver, the page's strings in both languages, a fresh store and English before each
 * test, the page rendered against a fake transport, and a run's summary to patch.
 */
import { cleanup, render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeAll, beforeEach } from 'vitest';
import type { RunSummary } from '../../shared/sim';
import { i18n } from '../../src-renderer/i18n';
import { SimulatorPage } from '../../src-renderer/pages/simulator/SimulatorPage';
import { useSimulator } from '../../src-renderer/pages/simulator/store';
import { simulatorStrings } from '../../src-renderer/pages/simulator/strings';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeHandlers, type FakeTransport } from '../../src-renderer/transport/fake';

/** Registers the hooks every Simulator page test needs; call once at the top of a test file. */
export function simulatorPageHooks(): void {
  beforeAll(() => {
    globalThis.ResizeObserver ??= class {
      observe() {
        /* no layout in jsdom */
      }
      unobserve() {
        /* nothing observed */
      }
      disconnect() {
        /* nothing observed */
      }
    };
    for (const lang of ['en', 'zh-CN'] as const) i18n.addResourceBundle(lang, 'simulator', simulatorStrings[lang], true, true);
  });
  beforeEach(async () => {
    useSimulator.getState().reset();
    await i18n.changeLanguage('en');
  });
  afterEach(cleanup);
}

/** Renders the Simulator page on a fake transport answering `handlers`; the transport records its calls. */
export function renderSimulator(handlers: FakeHandlers = {}): FakeTransport {
  const transport = createFakeTransport(handlers);
  const wrapper = ({ children }: { children: ReactNode }) => (
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>{children}</TransportContext.Provider>
    </I18nextProvider>
  );
  render(<SimulatorPage />, { wrapper });
  return transport;
}

export const text = (element: Element | null | undefined): string => element?.textContent ?? '';

/** A live run's summary on SQLite: 3 buyers for 1 key, one sold; `patch` changes any of it. */
export function runSummary(strategy: RunSummary['strategy'], patch: Partial<RunSummary> = {}): RunSummary {
  return {
    scenario: 'incident',
    strategy,
    engine: 'sqlite',
    mode: 'live',
    buyers: 3,
    keys: 1,
    seed: 1,
    successes: 1,
    oversold: 0,
    declined: 2,
    errors: 0,
    unknown: 0,
    anomalies: [],
    latencyMs: { p50: 100, p99: 110, mean: 100, max: 110 },
    durationMs: 120,
    throughputPerS: 25,
    historySha256: 'a'.repeat(64),
    ...patch,
  };
}
