/**
 * The admin shell in jsdom with a fake transport: navigation from the page registry, hash routing,
 * the language and theme switches, the connection badge, live events, the confirm dialog, the HTTP
 * transport's error mapping, and the rule that every i18n namespace has the same keys in both
 * languages.
 */
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AppEvent } from '../../shared/rpc';
import { App } from '../../src-renderer/App';
import { Confirm } from '../../src-renderer/components/Confirm';
import { useLive } from '../../src-renderer/hooks/useLive';
import { i18n, LANGUAGES, NAMESPACES, setLanguage } from '../../src-renderer/i18n';
import { PAGES } from '../../src-renderer/pages';
import type { PageDef } from '../../src-renderer/pages/types';
import { usePreferences } from '../../src-renderer/shell/preferences';
import { Sidebar } from '../../src-renderer/shell/Sidebar';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeTransport } from '../../src-renderer/transport/fake';
import { createHttpTransport } from '../../src-renderer/transport/http-transport';
import { TransportError } from '../../src-renderer/transport/types';

const product = {
  id: 'prd_1',
  name: 'Steam 50',
  price: { amount: 5000, currency: 'CNY' },
  onSale: true,
  stock: { available: 3, reserved: 0, sold: 0 },
  createdAt: '2026-11-25T10:00:00.000Z',
};

function LiveProbe({ onEvent }: { onEvent: (event: AppEvent) => void }) {
  useLive(onEvent, ['stock']);
  return <p>live probe</p>;
}

function OrdersProbe() {
  return <p>orders page body</p>;
}

function DashboardProbe() {
  return <p>dashboard page body</p>;
}

const TEST_PAGES: PageDef[] = [
  { id: 'dashboard', titleKey: 'nav.dashboard', component: DashboardProbe },
  { id: 'orders', titleKey: 'nav.orders', component: OrdersProbe },
];

let transport: FakeTransport;

beforeEach(() => {
  window.location.hash = '';
  transport = createFakeTransport({ 'products.list': () => ({ products: [product] }) });
});

afterEach(async () => {
  cleanup();
  await act(() => setLanguage('en'));
  usePreferences.setState({ language: 'en' });
  localStorage.clear();
});

/** Collects key paths of a nested catalogue: `nav.orders`, `errors.sold_out`, ... */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null) return [prefix];
  return Object.entries(value).flatMap(([key, child]) => keyPaths(child, prefix ? `${prefix}.${key}` : key));
}

function leaves(value: unknown): unknown[] {
  if (typeof value !== 'object' || value === null) return [value];
  return Object.values(value).flatMap(leaves);
}

describe('i18n catalogues', () => {
  it.each(Object.keys(NAMESPACES))('namespace "%s" has the same keys in English and Chinese, none empty', (ns) => {
    const strings = NAMESPACES[ns]!;
    expect(keyPaths(strings['zh-CN']).sort()).toEqual(keyPaths(strings.en).sort());
    for (const language of LANGUAGES) {
      for (const leaf of leaves(strings[language])) {
        expect(typeof leaf === 'string' && leaf.trim() !== '', `${ns} (${language}) has an empty or non-text entry`).toBe(true);
      }
    }
  });

  it('has a translated title for every registered page, in both languages', async () => {
    render(
      <I18nextProvider i18n={i18n}>
        <Sidebar pages={PAGES} currentId={null} />
      </I18nextProvider>,
    );
    const nav = screen.getByRole('navigation');
    for (const page of PAGES) {
      expect(within(nav).getByRole('link', { name: i18n.t(page.titleKey) })).toHaveProperty('hash', `#/${page.id}`);
      expect(i18n.exists(page.titleKey, { lng: 'en' }) && i18n.exists(page.titleKey, { lng: 'zh-CN' })).toBe(true);
      // A page's own namespace is registered under its id.
      expect(Object.keys(NAMESPACES)).toContain(page.id);
    }
    await act(() => setLanguage('zh-CN'));
    for (const page of PAGES)
      expect(within(nav).getByRole('link', { name: i18n.t(page.titleKey, { lng: 'zh-CN' }) })).toBeTruthy();
  });
});

describe('the shell', () => {
  it('shows the first page by default and follows the hash, marking the current link', async () => {
    render(<App transport={transport} pages={TEST_PAGES} />);
    expect(screen.getByText('dashboard page body')).toBeTruthy();
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Dashboard');

    await userEvent.click(screen.getByRole('link', { name: 'Orders' }));
    await screen.findByText('orders page body');
    expect(screen.getByRole('link', { name: 'Orders' }).getAttribute('aria-current')).toBe('page');
    expect(screen.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current')).toBeNull();
    expect(document.title).toBe('Orders · OnceKey');

    act(() => {
      window.location.hash = '#/nowhere';
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    });
    expect(await screen.findByText('There is no page called “nowhere”.')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Go to the first page' }));
    await screen.findByText('dashboard page body');
  });

  it('says so when no page is registered yet', () => {
    render(<App transport={transport} pages={[]} />);
    expect(screen.getByText('No pages yet')).toBeTruthy();
  });

  it('switches the language everywhere, remembers it, and sets <html lang>', async () => {
    render(<App transport={transport} pages={TEST_PAGES} />);
    await userEvent.selectOptions(screen.getByTestId('language-select'), 'zh-CN');
    expect(await screen.findByRole('link', { name: '订单' })).toBeTruthy();
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('概览');
    expect(localStorage.getItem('oncekey.language')).toBe('zh-CN');
    expect(document.documentElement.lang).toBe('zh-CN');
    expect(screen.getByTestId('connection-status').textContent).toContain('已连接');
  });

  it('applies the chosen theme to <html data-theme> and remembers it', async () => {
    render(<App transport={transport} pages={TEST_PAGES} />);
    await userEvent.selectOptions(screen.getByTestId('theme-select'), 'dark');
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(localStorage.getItem('oncekey.theme')).toBe('dark');
    await userEvent.selectOptions(screen.getByTestId('theme-select'), 'light');
    expect(document.documentElement.dataset.theme).toBe('light');
  });

  it('shows the connection, and a translated failure with a retry that probes again', async () => {
    const failing = createFakeTransport({
      'products.list': () => {
        throw new TransportError('unauthorized', 'no session');
      },
    });
    render(<App transport={failing} pages={TEST_PAGES} />);
    const badge = screen.getByTestId('connection-status');
    await waitFor(() => expect(badge.textContent).toContain('Cannot reach the shop engine'));
    expect(badge.textContent).toContain('Not signed in');
    failing.handle({ 'products.list': () => ({ products: [product] }) });
    await userEvent.click(within(badge).getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(badge.textContent).toContain('Connected'));
    expect(failing.calls.filter((call) => call.method === 'products.list')).toHaveLength(2);
  });
});

describe('useLive', () => {
  it('delivers the chosen event types while mounted and unsubscribes on unmount', () => {
    const seen: AppEvent[] = [];
    const { unmount } = render(
      <TransportContext.Provider value={transport}>
        <LiveProbe onEvent={(event) => seen.push(event)} />
      </TransportContext.Provider>,
    );
    expect(transport.subscriberCount).toBe(1);
    act(() => {
      transport.emit({ type: 'stock', productId: 'prd_1' });
      transport.emit({ type: 'order', orderId: 'ord_1', productId: 'prd_1', status: 'reserved' });
    });
    expect(seen).toEqual([{ type: 'stock', productId: 'prd_1' }]);
    unmount();
    expect(transport.subscriberCount).toBe(0);
  });
});

describe('Confirm', () => {
  it('keeps the dialog open with the translated error when the action fails, and Escape cancels', async () => {
    const onCancel = vi.fn();
    const onConfirm = vi.fn(() => Promise.reject(new TransportError('order_not_payable', 'order is expired')));
    render(
      <I18nextProvider i18n={i18n}>
        <Confirm open title="Mark paid?" onConfirm={onConfirm} onCancel={onCancel}>
          <p>The buyer gets the code.</p>
        </Confirm>
      </I18nextProvider>,
    );
    const dialog = screen.getByRole('dialog', { name: 'Mark paid?' });
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Confirm' }));
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm' }));
    expect(await within(dialog).findByRole('alert')).toHaveProperty(
      'textContent',
      'This order cannot be marked paid in its current state.',
    );
    await userEvent.keyboard('{Escape}');
    expect(onCancel).toHaveBeenCalledTimes(1);
  });
});

describe('the HTTP transport', () => {
  const respond = (status: number, body: unknown, type = 'application/json') =>
    vi.fn(() => Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': type } })));

  it('posts the input as JSON to the method path and returns the value', async () => {
    const fetchMock = respond(200, { ok: true, value: { products: [] } });
    const http = createHttpTransport({ fetch: fetchMock });
    await expect(http.call('products.list', {})).resolves.toEqual({ products: [] });
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/admin/rpc/products.list');
    expect(init).toMatchObject({ method: 'POST', credentials: 'same-origin', body: '{}' });
  });

  it('turns an error reply and a problem+json answer into the same TransportError codes', async () => {
    const reply = createHttpTransport({ fetch: respond(200, { ok: false, error: { code: 'sold_out', message: 'none left' } }) });
    await expect(reply.call('products.list', {})).rejects.toMatchObject({ code: 'sold_out', message: 'none left' });
    const problem = createHttpTransport({
      fetch: respond(401, { code: 'unauthorized', detail: 'sign in' }, 'application/problem+json'),
    });
    await expect(problem.call('products.list', {})).rejects.toMatchObject({ code: 'unauthorized', message: 'sign in' });
    const down = createHttpTransport({ fetch: vi.fn(() => Promise.reject(new TypeError('Failed to fetch'))) });
    const error: unknown = await down.call('products.list', {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TransportError);
    expect(error).toMatchObject({ code: 'busy' });
  });
});
