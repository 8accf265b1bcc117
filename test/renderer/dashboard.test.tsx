/** The dashboard page against a fake transport: totals, alerts, charts' data, the ledger card, live refresh. */
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactNode } from 'react';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DashboardSummary, LedgerState, SalesSeries } from '../../shared/rpc/dashboard';
import { i18n } from '../../src-renderer/i18n';
import { DashboardPage } from '../../src-renderer/pages/dashboard/DashboardPage';
import { useDashboard } from '../../src-renderer/pages/dashboard/store';
import { dashboardStrings } from '../../src-renderer/pages/dashboard/strings';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeTransport } from '../../src-renderer/transport/fake';

beforeAll(() => {
  // Recharts' responsive charts watch their size; jsdom has no layout, so give it an observer that never fires.
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
  for (const lang of ['en', 'zh-CN'] as const) i18n.addResourceBundle(lang, 'dashboard', dashboardStrings[lang], true, true);
});

beforeEach(async () => {
  useDashboard.getState().reset();
  await i18n.changeLanguage('en');
});
afterEach(cleanup);

/** The text of an element, for assertions (no jest-dom here). */
const text = (element: Element | null | undefined): string => element?.textContent ?? '';

const OK_LEDGER: LedgerState = {
  status: 'ok',
  entries: 42,
  autoVerify: true,
  verifiedEntries: 42,
  verifiedAt: '2026-03-10T12:00:00.000Z',
  durationMs: 3,
  firstBadEntry: null,
  problems: [],
};

function product(
  id: string,
  name: string,
  available: number,
  extra: Partial<DashboardSummary['products'][number]> = {},
): DashboardSummary['products'][number] {
  return {
    id,
    name,
    price: { amount: 5000, currency: 'CNY' },
    onSale: true,
    stock: { available, reserved: 1, sold: 3 },
    createdAt: '2026-03-01T00:00:00.000Z',
    lowStockThreshold: 10,
    thresholdSource: 'default',
    low: available <= 10,
    ...extra,
  };
}

function summary(over: Partial<DashboardSummary> = {}): DashboardSummary {
  const products = over.products ?? [product('prd_a', 'Steam 50', 120), product('prd_b', 'iTunes 100', 4)];
  return {
    products,
    totals: products.reduce(
      (s, p) => ({
        available: s.available + p.stock.available,
        reserved: s.reserved + p.stock.reserved,
        sold: s.sold + p.stock.sold,
      }),
      { available: 0, reserved: 0, sold: 0 },
    ),
    defaultLowStockThreshold: 10,
    needsReview: { count: 0, oldestAt: null },
    ledger: OK_LEDGER,
    alerts: [],
    generatedAt: '2026-03-10T12:00:00.000Z',
    ...over,
  };
}

const SALES: SalesSeries = {
  bucket: 'day',
  points: [
    { start: '2026-03-08T16:00:00.000Z', orders: 0, units: 0, revenue: [] },
    { start: '2026-03-09T16:00:00.000Z', orders: 2, units: 3, revenue: [{ amount: 15000, currency: 'CNY' }] },
  ],
  totals: { orders: 2, units: 3, revenue: [{ amount: 15000, currency: 'CNY' }] },
};

function setup(handlers: Parameters<typeof createFakeTransport>[0] = {}): FakeTransport {
  const transport = createFakeTransport({ 'dashboard.summary': () => summary(), 'dashboard.sales': () => SALES, ...handlers });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>{children}</TransportContext.Provider>
    </I18nextProvider>
  );
  render(<DashboardPage />, { wrapper });
  return transport;
}

describe('dashboard page', () => {
  it('shows stock totals, the stock table and the sales totals', async () => {
    const transport = setup();
    expect(text(await screen.findByTestId('total-available'))).toContain('124');
    expect(text(screen.getByTestId('total-reserved'))).toContain('2');
    expect(text(screen.getByTestId('total-sold'))).toContain('6');
    const table = screen.getByRole('table', { name: 'Stock per product' });
    expect(within(table).getByText('iTunes 100')).toBeTruthy();
    expect(within(table).getByText('low')).toBeTruthy();
    expect(text(screen.getByTestId('sales-totals'))).toContain('2 orders · 3 codes · CN¥150.00');
    expect(screen.getByText('All clear: stock is above every threshold and nothing waits for review.')).toBeTruthy();
    // Sales are asked for in the viewer's time zone.
    expect(transport.calls.find((c) => c.method === 'dashboard.sales')?.input).toEqual({
      days: 7,
      tzOffsetMinutes: new Date().getTimezoneOffset(),
    });
  });

  it('words every alert and links each to where it is fixed', async () => {
    setup({
      'dashboard.summary': () =>
        summary({
          needsReview: { count: 2, oldestAt: '2026-03-10T10:00:00.000Z' },
          ledger: {
            ...OK_LEDGER,
            status: 'broken',
            firstBadEntry: 7,
            problems: [{ seq: 7, reason: 'its contents do not match its hash (edited)' }],
          },
          alerts: [
            { kind: 'ledger_broken', firstBadEntry: 7 },
            { kind: 'needs_review', count: 2 },
            { kind: 'sold_out', productId: 'prd_c', name: 'Xbox 20' },
            { kind: 'low_stock', productId: 'prd_b', name: 'iTunes 100', available: 4, threshold: 10 },
          ],
        }),
    });
    expect(await screen.findByText('The ledger does not verify')).toBeTruthy();
    expect(screen.getByText('The first bad entry is #7. History was changed outside OnceKey.')).toBeTruthy();
    expect(screen.getByText('2 orders need review').closest('li')?.querySelector('a')?.getAttribute('href')).toBe(
      '#/orders/needs_review',
    );
    expect(screen.getByText('Xbox 20 is sold out').closest('li')?.querySelector('a')?.getAttribute('href')).toBe(
      '#/products/import/prd_c',
    );
    expect(screen.getByText('iTunes 100: only 4 left')).toBeTruthy();
    expect(text(screen.getByTestId('ledger-status'))).toContain('Broken');
    expect(screen.getByText('#7: its contents do not match its hash (edited)')).toBeTruthy();
  });

  it('invites the owner to create a product when there is none', async () => {
    setup({ 'dashboard.summary': () => summary({ products: [] }) });
    const link = await screen.findByRole('link', { name: 'Create a product' });
    expect(link?.getAttribute('href')).toBe('#/products/new');
    expect(screen.queryByRole('table', { name: 'Stock per product' })).toBeNull();
  });

  it('verifies the ledger on request and shows the new verdict', async () => {
    let verified = false;
    const transport = setup({
      'dashboard.summary': () =>
        summary({
          ledger: verified
            ? OK_LEDGER
            : {
                ...OK_LEDGER,
                status: 'unverified',
                autoVerify: false,
                verifiedEntries: null,
                verifiedAt: null,
                durationMs: null,
              },
        }),
      'dashboard.verifyLedger': () => {
        verified = true;
        return OK_LEDGER;
      },
    });
    expect(text(await screen.findByTestId('ledger-status'))).toContain('Not verified');
    expect(screen.getByText(/verified only when you ask/)).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Verify now' }));
    await waitFor(() => expect(text(screen.getByTestId('ledger-status'))).toContain('Verified'));
    expect(transport.calls.filter((c) => c.method === 'dashboard.verifyLedger')).toHaveLength(1);
  });

  it('changes the sales period', async () => {
    const transport = setup();
    await screen.findByTestId('sales-totals');
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Period' }), '30');
    await waitFor(() =>
      expect(transport.calls.some((c) => c.method === 'dashboard.sales' && (c.input as { days: number }).days === 30)).toBe(true),
    );
  });

  it('refreshes stock once after a burst of live events, without a reload', async () => {
    let available = 120;
    const transport = setup({ 'dashboard.summary': () => summary({ products: [product('prd_a', 'Steam 50', available)] }) });
    expect(text(await screen.findByTestId('total-available'))).toContain('120');
    const before = transport.calls.filter((c) => c.method === 'dashboard.summary').length;
    available = 117;
    act(() => {
      for (let i = 0; i < 3; i++) {
        transport.emit({ type: 'order', orderId: `ord_${i}`, productId: 'prd_a', status: 'reserved' });
        transport.emit({ type: 'stock', productId: 'prd_a' });
      }
    });
    await waitFor(() => expect(text(screen.getByTestId('total-available'))).toContain('117'));
    expect(transport.calls.filter((c) => c.method === 'dashboard.summary').length).toBe(before + 1);
  });

  it('is fully translated into Chinese', async () => {
    await i18n.changeLanguage('zh-CN');
    setup({
      'dashboard.summary': () =>
        summary({ alerts: [{ kind: 'low_stock', productId: 'prd_b', name: 'iTunes 100', available: 4, threshold: 10 }] }),
    });
    expect(await screen.findByText('iTunes 100：仅剩 4 个')).toBeTruthy();
    expect(text(screen.getByTestId('total-available'))).toContain('可售');
    expect(text(screen.getByTestId('total-reserved'))).toContain('已预留');
    expect(text(screen.getByTestId('total-sold'))).toContain('已售出');
    expect(screen.getByRole('table', { name: '各商品库存' })).toBeTruthy();
  });

  it('has the same keys in English and Chinese', () => {
    const keys = (value: unknown, prefix = ''): string[] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([k, v]) => keys(v, `${prefix}${k}.`))
        : [prefix];
    expect(keys(dashboardStrings['zh-CN']).sort()).toEqual(keys(dashboardStrings.en).sort());
  });
});
