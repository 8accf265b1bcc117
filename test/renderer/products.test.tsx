/** The products page against a fake transport: product list, create/edit dialog, key table, import dialog, live stock. */
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactNode } from 'react';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DashboardProduct, DashboardSummary } from '../../shared/rpc/dashboard';
import { i18n } from '../../src-renderer/i18n';
import { ProductsPage } from '../../src-renderer/pages/products/ProductsPage';
import { useProducts } from '../../src-renderer/pages/products/store';
import { productsStrings } from '../../src-renderer/pages/products/strings';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeHandlers, type FakeTransport } from '../../src-renderer/transport/fake';

const text = (element: Element | null | undefined): string => element?.textContent ?? '';

beforeAll(() => {
  // jsdom has no layout: give the key table's scroller the height it has on screen (14 rows of 32 px).
  Object.defineProperty(HTMLElement.prototype, 'clientHeight', {
    configurable: true,
    get(this: HTMLElement) {
      return this.dataset.testid === 'key-scroller' ? 448 : 0;
    },
  });
  Object.defineProperty(HTMLElement.prototype, 'clientWidth', {
    configurable: true,
    get(this: HTMLElement) {
      return this.dataset.testid === 'key-scroller' ? 900 : 0;
    },
  });
  for (const lang of ['en', 'zh-CN'] as const) i18n.addResourceBundle(lang, 'products', productsStrings[lang], true, true);
});
beforeEach(async () => {
  useProducts.getState().reset();
  window.location.hash = '#/products';
  await i18n.changeLanguage('en');
});
afterEach(cleanup);

function product(id: string, name: string, available: number, extra: Partial<DashboardProduct> = {}): DashboardProduct {
  return {
    id,
    name,
    price: { amount: 5000, currency: 'CNY' },
    onSale: true,
    stock: { available, reserved: 0, sold: 2 },
    createdAt: '2026-03-01T00:00:00.000Z',
    lowStockThreshold: 10,
    thresholdSource: 'default',
    low: available <= 10,
    ...extra,
  };
}

/** A tiny in-memory catalogue behind the fake transport, so create/update change what the page reloads. */
function catalogue(initial: DashboardProduct[]) {
  const products = [...initial];
  const summary = (): DashboardSummary => ({
    products,
    totals: { available: 0, reserved: 0, sold: 0 },
    defaultLowStockThreshold: 10,
    needsReview: { count: 0, oldestAt: null },
    ledger: {
      status: 'ok',
      entries: 0,
      autoVerify: true,
      verifiedEntries: 0,
      verifiedAt: null,
      durationMs: null,
      firstBadEntry: null,
      problems: [],
    },
    alerts: [],
    generatedAt: '2026-03-10T12:00:00.000Z',
  });
  const handlers: FakeHandlers = {
    'dashboard.summary': () => summary(),
    'products.create': (input) => {
      const created = product(`prd_${products.length + 1}`, input.name, 0, { price: input.price, onSale: input.onSale ?? true });
      products.push(created);
      return { product: created };
    },
    'products.update': (input) => {
      const index = products.findIndex((p) => p.id === input.id);
      const updated = { ...products[index]!, name: input.name, price: input.price, onSale: input.onSale ?? true };
      products[index] = updated;
      return { product: updated };
    },
    'dashboard.setLowStockThreshold': (input) => {
      const index = products.findIndex((p) => p.id === input.productId);
      const threshold = input.threshold ?? 10;
      products[index] = {
        ...products[index]!,
        lowStockThreshold: threshold,
        thresholdSource: input.threshold === null ? 'default' : 'product',
      };
      return { productId: input.productId ?? null, threshold };
    },
  };
  return { products, handlers };
}

function setup(handlers: FakeHandlers): FakeTransport {
  const transport = createFakeTransport(handlers);
  const wrapper = ({ children }: { children: ReactNode }) => (
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>{children}</TransportContext.Provider>
    </I18nextProvider>
  );
  render(<ProductsPage />, { wrapper });
  return transport;
}

describe('products page: products', () => {
  it('invites the owner to create the first product, and creates it with the price in minor units', async () => {
    const shop = catalogue([]);
    const transport = setup(shop.handlers);
    expect(await screen.findByText('No products yet — create one')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'New product' }));
    const dialog = screen.getByRole('dialog', { name: 'New product' });
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Name/ }), 'Steam 50');
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Price/ }), '49.90');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(transport.calls.find((c) => c.method === 'products.create')?.input).toEqual({
      name: 'Steam 50',
      price: { amount: 4990, currency: 'CNY' },
      onSale: true,
    });
    expect(await screen.findByRole('table', { name: 'Products' })).toBeTruthy();
    expect(text(screen.getByRole('table', { name: 'Products' }))).toContain('Steam 50');
  });

  it('refuses a price with too many decimals and stores nothing', async () => {
    const shop = catalogue([]);
    const transport = setup(shop.handlers);
    await userEvent.click(await screen.findByRole('button', { name: 'New product' }));
    const dialog = screen.getByRole('dialog');
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Name/ }), 'Yen card');
    await userEvent.selectOptions(within(dialog).getByRole('combobox', { name: 'Currency' }), 'JPY');
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Price/ }), '100.5');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create' }));
    expect(text(within(dialog).getByRole('alert'))).toContain('at most 0 decimals');
    expect(transport.calls.some((c) => c.method === 'products.create')).toBe(false);
    await userEvent.clear(within(dialog).getByRole('textbox', { name: /Price/ }));
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Price/ }), '1000');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Create' }));
    await waitFor(() =>
      expect(transport.calls.find((c) => c.method === 'products.create')?.input).toEqual({
        name: 'Yen card',
        price: { amount: 1000, currency: 'JPY' },
        onSale: true,
      }),
    );
  });

  it('edits a product: takes it off sale and gives it its own low-stock alert', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 40)]);
    const transport = setup(shop.handlers);
    await userEvent.click(await screen.findByRole('button', { name: 'Edit Steam 50' }));
    const dialog = screen.getByRole('dialog', { name: 'Edit Steam 50' });
    expect(within(dialog).getByRole<HTMLInputElement>('textbox', { name: /Price/ }).value).toBe('50.00');
    await userEvent.click(within(dialog).getByRole('checkbox', { name: /On sale/ }));
    await userEvent.type(within(dialog).getByRole('textbox', { name: /Low-stock alert/ }), '25');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(transport.calls.find((c) => c.method === 'products.update')?.input).toEqual({
      id: 'prd_a',
      name: 'Steam 50',
      price: { amount: 5000, currency: 'CNY' },
      onSale: false,
    });
    expect(transport.calls.find((c) => c.method === 'dashboard.setLowStockThreshold')?.input).toEqual({
      productId: 'prd_a',
      threshold: 25,
    });
    await waitFor(() => expect(text(screen.getByRole('table', { name: 'Products' }))).toContain('Not on sale'));
  });

  it('opens the create dialog from the dashboard’s link', async () => {
    window.location.hash = '#/products/new';
    setup(catalogue([]).handlers);
    expect(await screen.findByRole('dialog', { name: 'New product' })).toBeTruthy();
  });

  it('updates stock live after a purchase, without a reload', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 40)]);
    const transport = setup(shop.handlers);
    expect(text(await screen.findByTestId('available-prd_a'))).toBe('40');
    shop.products[0] = product('prd_a', 'Steam 50', 39);
    act(() => transport.emit({ type: 'stock', productId: 'prd_a' }));
    await waitFor(() => expect(text(screen.getByTestId('available-prd_a'))).toBe('39'));
  });

  it('has the same keys in English and Chinese', () => {
    const keys = (value: unknown, prefix = ''): string[] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([k, v]) => keys(v, `${prefix}${k}.`))
        : [prefix];
    expect(keys(productsStrings['zh-CN']).sort()).toEqual(keys(productsStrings.en).sort());
  });
});

/** A million keys, made up on demand from their position: only the pages the table asks for exist. */
function millionKeys(total = 1_000_000): FakeHandlers {
  return {
    'keys.list': (input) => {
      const offset = input.offset ?? 0;
      const count = Math.max(0, Math.min(input.limit ?? 100, total - offset));
      const status = input.status ?? 'available';
      return {
        total,
        rows: Array.from({ length: count }, (_, i) => ({
          id: total - offset - i,
          productId: input.productId ?? 'prd_a',
          status,
          orderId: status === 'sold' ? `ord_${offset + i}` : null,
          masked: `••••••••${String(offset + i)
            .padStart(4, '0')
            .slice(-4)}`,
          importedAt: '2026-03-01T00:00:00.000Z',
        })),
      };
    },
    'keys.reveal': (input) => ({ code: `CODE-${input.keyId}` }),
  };
}

describe('products page: keys', () => {
  it('virtualises a million keys: few rows in the page, pages fetched as the table scrolls', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 1_000_000)]);
    const transport = setup({ ...shop.handlers, ...millionKeys() });
    const table = await screen.findByRole('table', { name: 'Keys' });
    expect(table.getAttribute('aria-rowcount')).toBe('1000001');
    await waitFor(() => expect(text(table)).toContain('••••••••0000'));
    const rendered = within(table).getAllByRole('row').length;
    expect(rendered).toBeGreaterThan(10);
    expect(rendered).toBeLessThan(60);
    expect(screen.getByText('1,000,000 keys')).toBeTruthy();

    const scroller = screen.getByTestId('key-scroller');
    act(() => {
      scroller.scrollTop = 600_000 * 32;
      scroller.dispatchEvent(new Event('scroll'));
    });
    await waitFor(() => expect(text(table)).toContain(`••••••••${String(600_000).slice(-4)}`));
    const offsets = transport.calls.filter((c) => c.method === 'keys.list').map((c) => (c.input as { offset: number }).offset);
    expect(offsets).toContain(600_000);
    // Only the pages in view were fetched, never the rows scrolled past.
    expect(offsets.length).toBeLessThan(6);
    expect(within(table).getAllByRole('row').length).toBeLessThan(60);
  });

  it('reveals and copies a code through keys.reveal, each with its own purpose', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 3)]);
    const writeText = vi.fn(async (_text: string) => undefined);
    Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText } });
    const transport = setup({ ...shop.handlers, ...millionKeys(3) });
    await userEvent.click(await screen.findByRole('button', { name: 'Reveal key 3' }));
    expect(await screen.findByText('CODE-3')).toBeTruthy();
    expect(transport.calls.find((c) => c.method === 'keys.reveal')?.input).toEqual({ keyId: 3, purpose: 'reveal' });
    await userEvent.click(screen.getByRole('button', { name: 'Hide key 3' }));
    expect(screen.queryByText('CODE-3')).toBeNull();

    await userEvent.click(screen.getByRole('button', { name: 'Copy key 2' }));
    await waitFor(() => expect(writeText).toHaveBeenCalledWith('CODE-2'));
    expect(transport.calls.filter((c) => c.method === 'keys.reveal').map((c) => c.input)).toEqual([
      { keyId: 3, purpose: 'reveal' },
      { keyId: 2, purpose: 'copy' },
    ]);
    // A copied code is not left on the screen.
    expect(screen.queryByText('CODE-2')).toBeNull();
  });

  it('filters keys by status', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 3)]);
    const transport = setup({ ...shop.handlers, ...millionKeys(3) });
    await screen.findByRole('table', { name: 'Keys' });
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Status' }), 'sold');
    await waitFor(() =>
      expect(transport.calls.some((c) => c.method === 'keys.list' && (c.input as { status?: string }).status === 'sold')).toBe(
        true,
      ),
    );
    expect(await screen.findByText('ord_0')).toBeTruthy();
  });

  it('says how to fill an empty product', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 0)]);
    setup({ ...shop.handlers, ...millionKeys(0) });
    expect(await screen.findByText('No keys here yet.')).toBeTruthy();
    expect(screen.getByText('Import codes to fill this product.')).toBeTruthy();
  });
});

const REPORT = {
  productId: 'prd_a',
  importId: null,
  dryRun: true,
  source: 'pasted text',
  format: 'txt' as const,
  encoding: 'utf-8' as const,
  bom: false,
  column: null,
  lines: 5,
  accepted: 3,
  imported: 0,
  duplicatesInBatch: 1,
  duplicatesInVault: 1,
  blank: 0,
  overLong: 0,
  invalid: 0,
  samples: { duplicatesInBatch: [4], duplicatesInVault: [5], blank: [], overLong: [], invalid: [] },
  rejected: [],
};

describe('products page: import', () => {
  it('previews pasted codes with the duplicate report, then imports with progress', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 0)]);
    let finish: (() => void) | null = null;
    const transport = setup({
      ...shop.handlers,
      ...millionKeys(0),
      'keys.preview': () => REPORT,
      'keys.import': () =>
        new Promise((resolve) => {
          finish = () => resolve({ ...REPORT, dryRun: false, importId: 7, imported: 3 });
        }),
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Import codes into Steam 50' }));
    const dialog = screen.getByRole('dialog', { name: 'Import codes into Steam 50' });
    await userEvent.type(
      within(dialog).getByRole('textbox', { name: 'Codes, one per line' }),
      'A{enter}B{enter}C{enter}A{enter}OLD',
    );
    await userEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    const report = await within(dialog).findByTestId('import-report');
    expect(transport.calls.find((c) => c.method === 'keys.preview')?.input).toEqual({
      productId: 'prd_a',
      source: { kind: 'text', text: 'A\nB\nC\nA\nOLD' },
    });
    expect(text(within(report).getByTestId('report-accepted'))).toContain('3');
    expect(text(within(report).getByTestId('report-duplicatesInBatch'))).toContain('lines 4');
    expect(text(within(report).getByTestId('report-duplicatesInVault'))).toContain('lines 5');
    expect(text(report)).toContain('UTF-8');

    await userEvent.click(within(dialog).getByRole('button', { name: 'Import 3 codes' }));
    act(() => transport.emit({ type: 'import', productId: 'prd_a', done: 2, total: 5 }));
    const bar = await within(dialog).findByRole('progressbar');
    expect(bar.getAttribute('aria-valuenow')).toBe('40');
    expect(text(dialog)).toContain('2 of 5 lines');
    // Every line read: the commit has no progress of its own, and the dialog says what it is doing.
    act(() => transport.emit({ type: 'import', productId: 'prd_a', done: 5, total: 5 }));
    await waitFor(() => expect(text(dialog)).toContain('All 5 lines read; storing the codes in one step'));
    expect(within(dialog).getByRole('progressbar').getAttribute('aria-valuenow')).toBeNull();
    act(() => finish?.());
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(transport.calls.find((c) => c.method === 'keys.import')?.input).toEqual({
      productId: 'prd_a',
      source: { kind: 'text', text: 'A\nB\nC\nA\nOLD' },
    });
  });

  it('sends a chosen CSV file as base64, with the picked column and an encoding override', async () => {
    const shop = catalogue([product('prd_a', 'Steam 50', 0)]);
    const transport = setup({
      ...shop.handlers,
      ...millionKeys(0),
      'keys.preview': (input) => ({
        ...REPORT,
        format: 'csv',
        encoding: input.encoding ?? 'utf-8',
        column: { index: 2, name: '卡密' },
      }),
    });
    await userEvent.click(await screen.findByRole('button', { name: 'Import codes into Steam 50' }));
    const dialog = screen.getByRole('dialog');
    await userEvent.click(within(dialog).getByRole('radio', { name: 'File' }));
    const csv = '序号,卡密\n1,AAAA-1111\n2,BBBB-2222\n';
    await userEvent.upload(
      within(dialog).getByLabelText('Choose a .txt or .csv file'),
      new File([csv], 'codes.csv', { type: 'text/csv' }),
    );
    const columnSelect = await within(dialog).findByRole('combobox', { name: /Code column/ });
    await waitFor(() => expect(text(columnSelect)).toContain('2: 卡密'));
    await userEvent.selectOptions(columnSelect, '2');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    await within(dialog).findByTestId('import-report');
    const sent = transport.calls.find((c) => c.method === 'keys.preview')?.input as {
      source: { kind: string; name: string; base64: string };
      column: number;
    };
    expect(sent.source.kind).toBe('bytes');
    expect(sent.source.name).toBe('codes.csv');
    expect(new TextDecoder().decode(Uint8Array.from(atob(sent.source.base64), (c) => c.charCodeAt(0)))).toBe(csv);
    expect(sent.column).toBe(2);

    // Choosing another encoding after the preview previews again with it.
    await userEvent.selectOptions(within(dialog).getByRole('combobox', { name: /Encoding/ }), 'gbk');
    await waitFor(() =>
      expect(transport.calls.filter((c) => c.method === 'keys.preview').at(-1)?.input).toMatchObject({
        encoding: 'gbk',
        column: 2,
      }),
    );
    expect(await within(dialog).findByText(/Detected: GBK/)).toBeTruthy();
  });

  it('shows the import page in Chinese', async () => {
    await i18n.changeLanguage('zh-CN');
    const shop = catalogue([product('prd_a', 'Steam 50', 0)]);
    setup({ ...shop.handlers, ...millionKeys(0), 'keys.preview': () => REPORT });
    await userEvent.click(await screen.findByRole('button', { name: '向 Steam 50 导入卡密' }));
    const dialog = screen.getByRole('dialog', { name: '向 Steam 50 导入卡密' });
    await userEvent.type(within(dialog).getByRole('textbox', { name: '卡密，每行一个' }), 'A');
    await userEvent.click(within(dialog).getByRole('button', { name: '预览' }));
    const report = await within(dialog).findByTestId('import-report');
    expect(text(report)).toContain('将导入的新卡密');
    expect(text(report)).toContain('文件内重复');
    expect(text(report)).toContain('卡密库中已存在');
    expect(within(dialog).getByRole('button', { name: '导入 3 个卡密' })).toBeTruthy();
  });
});
