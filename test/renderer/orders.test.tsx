/** The Orders and Ledger pages against a fake transport: list, search, filters, detail timeline, confirmed actions, live orders, zh-CN. */
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactNode } from 'react';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../shared/rpc/ledger';
import type { OrderDetail, OrderRow } from '../../shared/rpc/orders';
import { i18n } from '../../src-renderer/i18n';
import { LedgerPage } from '../../src-renderer/pages/ledger/LedgerPage';
import { useLedger } from '../../src-renderer/pages/ledger/store';
import { ledgerStrings } from '../../src-renderer/pages/ledger/strings';
import { OrdersPage } from '../../src-renderer/pages/orders/OrdersPage';
import { useOrders } from '../../src-renderer/pages/orders/store';
import { ordersStrings } from '../../src-renderer/pages/orders/strings';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeHandlers, type FakeTransport } from '../../src-renderer/transport/fake';
import { TransportError } from '../../src-renderer/transport/types';

beforeAll(() => {
  for (const lang of ['en', 'zh-CN'] as const) {
    i18n.addResourceBundle(lang, 'orders', ordersStrings[lang], true, true);
    i18n.addResourceBundle(lang, 'ledger', ledgerStrings[lang], true, true);
  }
});
beforeEach(async () => {
  useOrders.getState().reset();
  useLedger.getState().reset();
  window.location.hash = '';
  await i18n.changeLanguage('en');
});
afterEach(cleanup);

function order(id: string, over: Partial<OrderRow> = {}): OrderRow {
  return {
    id,
    status: 'reserved',
    productId: 'prd_a',
    productName: 'Steam 50',
    quantity: 1,
    amount: 5000,
    currency: 'CNY',
    email: `${id}@example.com`,
    createdAt: '2026-03-10T12:00:00.000Z',
    expiresAt: '2026-03-10T12:15:00.000Z',
    paidAt: null,
    deliveredAt: null,
    reviewReason: null,
    ...over,
  };
}

function detailOf(row: OrderRow): OrderDetail {
  const delivered = row.status === 'delivered';
  return {
    order: row,
    keys: [
      {
        id: 7,
        status: delivered ? 'sold' : 'reserved',
        deliveredAt: delivered ? '2026-03-10T12:01:00.000Z' : null,
        returnedAt: null,
      },
    ],
    payments: delivered
      ? [
          {
            eventId: `manual:${row.id}`,
            amount: 5000,
            currency: 'CNY',
            source: 'manual',
            outcome: 'delivered',
            receivedAt: '2026-03-10T12:01:00.000Z',
            tradeNo: null,
            via: null,
          },
        ]
      : [],
    checkouts: [],
    timeline: [
      {
        source: 'ledger',
        at: '2026-03-10T12:00:00.000Z',
        event: 'reserve',
        seq: 2,
        orderTo: 'reserved',
        keyIds: [7],
        actor: null,
        detail: {},
      },
      ...(delivered
        ? [
            {
              source: 'ledger' as const,
              at: '2026-03-10T12:01:00.000Z',
              event: 'sell',
              seq: 3,
              orderTo: 'delivered' as const,
              keyIds: [7],
              actor: null,
              detail: {},
            },
            {
              source: 'audit' as const,
              at: '2026-03-10T12:01:00.000Z',
              event: 'order.mark_paid',
              seq: null,
              orderTo: null,
              keyIds: [],
              actor: 'browser',
              detail: {},
            },
          ]
        : []),
    ],
  };
}

/** A small in-memory shop behind the fake transport. */
function shop(initial: OrderRow[]) {
  const orders = [...initial];
  const handlers: FakeHandlers = {
    'orders.list': (input) => {
      const q = input.q?.toLowerCase() ?? '';
      const rows = orders.filter(
        (o) =>
          (!q || o.id.toLowerCase().startsWith(q) || o.email.includes(q)) &&
          (!input.status || o.status === input.status) &&
          (!input.productId || o.productId === input.productId),
      );
      const offset = input.offset ?? 0;
      return { orders: rows.slice(offset, offset + (input.limit ?? 50)), total: rows.length };
    },
    'orders.get': (input) => {
      const row = orders.find((o) => o.id === input.id);
      if (!row) throw new TransportError('order_not_found', 'no such order');
      return detailOf(row);
    },
    'orders.markPaid': (input) => {
      const i = orders.findIndex((o) => o.id === input.id);
      orders[i] = {
        ...orders[i]!,
        status: 'delivered',
        paidAt: '2026-03-10T12:01:00.000Z',
        deliveredAt: '2026-03-10T12:01:00.000Z',
      };
      return { order: orders[i], effect: 'delivered' as const };
    },
    'orders.refund': (input) => {
      const i = orders.findIndex((o) => o.id === input.id);
      orders[i] = { ...orders[i]!, status: 'refunded' };
      return { order: orders[i] };
    },
  };
  return { orders, handlers };
}

function setup(page: ReactNode, handlers: FakeHandlers): FakeTransport {
  const transport = createFakeTransport(handlers);
  render(
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>{page}</TransportContext.Provider>
    </I18nextProvider>,
  );
  return transport;
}

const text = (element: Element | null | undefined): string => element?.textContent ?? '';

describe('orders page', () => {
  it('lists orders and searches by e-mail and filters by status on the server', async () => {
    const { handlers } = shop([order('ord_b', { status: 'delivered' }), order('ord_a')]);
    const transport = setup(<OrdersPage />, handlers);
    const table = await screen.findByRole('table', { name: 'Orders, newest first' });
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    expect(within(table).getByText('Delivered')).toBeTruthy();
    expect(within(table).getByText('Awaiting payment')).toBeTruthy();

    await userEvent.type(screen.getByRole('searchbox', { name: 'Search orders' }), 'ord_a@');
    await waitFor(() => expect(within(screen.getByRole('table')).getAllByRole('row')).toHaveLength(2));
    expect(transport.calls.some((c) => c.method === 'orders.list' && (c.input as { q?: string }).q === 'ord_a@')).toBe(true);

    await userEvent.clear(screen.getByRole('searchbox', { name: 'Search orders' }));
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Status' }), 'delivered');
    await waitFor(() =>
      expect(
        transport.calls.some((c) => c.method === 'orders.list' && (c.input as { status?: string }).status === 'delivered'),
      ).toBe(true),
    );
    await waitFor(() => expect(within(screen.getByRole('table')).queryByText('ord_a')).toBeNull());
  });

  it('filters by product when the shop has several', async () => {
    const { handlers } = shop([order('ord_a'), order('ord_b', { productId: 'prd_b', productName: 'iTunes 100' })]);
    const product = (id: string, name: string) => ({
      id,
      name,
      price: { amount: 5000, currency: 'CNY' },
      onSale: true,
      stock: { available: 1, reserved: 0, sold: 0 },
      createdAt: '2026-03-01T00:00:00.000Z',
    });
    const transport = setup(<OrdersPage />, {
      ...handlers,
      'products.list': () => ({ products: [product('prd_a', 'Steam 50'), product('prd_b', 'iTunes 100')] }),
    });
    await screen.findByText('ord_b');
    await userEvent.selectOptions(await screen.findByRole('combobox', { name: 'Product' }), 'prd_b');
    await waitFor(() =>
      expect(
        transport.calls.some((c) => c.method === 'orders.list' && (c.input as { productId?: string }).productId === 'prd_b'),
      ).toBe(true),
    );
    await waitFor(() => expect(screen.queryByText('ord_a')).toBeNull());
    expect(screen.getByText('ord_b')).toBeTruthy();
  });

  it('says so when nothing matches, and clears the filters', async () => {
    const { handlers } = shop([order('ord_a')]);
    setup(<OrdersPage />, handlers);
    await screen.findByRole('table');
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Status' }), 'refunded');
    expect(await screen.findByText('No orders match')).toBeTruthy();
    await userEvent.click(screen.getByRole('button', { name: 'Clear filters' }));
    expect(await screen.findByRole('table')).toBeTruthy();
  });

  it('opens an order with its timeline and marks it paid only after confirmation', async () => {
    const { handlers } = shop([order('ord_a')]);
    const transport = setup(<OrdersPage />, handlers);
    await userEvent.click(await screen.findByText('ord_a'));
    const panel = await screen.findByRole('complementary', { name: 'Order ord_a' });
    expect(await within(panel).findByText('Codes reserved for the order')).toBeTruthy();
    expect(within(panel).getByText('Code #7')).toBeTruthy();

    await userEvent.click(within(panel).getByRole('button', { name: 'Mark paid (test payment)' }));
    const dialog = await screen.findByRole('dialog', { name: 'Confirm a payment by hand?' });
    expect(text(dialog)).toContain('ord_a@example.com');
    expect(transport.calls.some((c) => c.method === 'orders.markPaid')).toBe(false);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Mark paid (test payment)' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(transport.calls.filter((c) => c.method === 'orders.markPaid')).toEqual([
      { method: 'orders.markPaid', input: { id: 'ord_a' } },
    ]);
    expect(await within(panel).findByText('Test payment confirmed by hand')).toBeTruthy();
    expect(within(panel).getByText('by the browser admin')).toBeTruthy();
    expect(within(panel).queryByRole('button', { name: 'Mark paid (test payment)' })).toBeNull();
  });

  it('asks for a reason and the fate of the codes before a refund', async () => {
    const { handlers } = shop([order('ord_a', { status: 'delivered', paidAt: '2026-03-10T12:01:00.000Z' })]);
    window.location.hash = '#/orders/ord_a';
    const transport = setup(<OrdersPage />, handlers);
    const panel = await screen.findByRole('complementary', { name: 'Order ord_a' });
    await userEvent.click(await within(panel).findByRole('button', { name: 'Refund…' }));
    const dialog = await screen.findByRole('dialog', { name: 'Refund this order?' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Refund' }));
    expect(await within(dialog).findByText('Write down the reason.')).toBeTruthy();
    expect(transport.calls.some((c) => c.method === 'orders.refund')).toBe(false);
    await userEvent.click(within(dialog).getByRole('radio', { name: /Return the codes to stock/ }));
    await userEvent.type(within(dialog).getByRole('textbox', { name: 'Reason' }), 'never used');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Refund' }));
    await waitFor(() =>
      expect(transport.calls.find((c) => c.method === 'orders.refund')?.input).toEqual({
        id: 'ord_a',
        keys: 'return',
        reason: 'never used',
        atGateway: false,
      }),
    );
  });

  it('shows a channel checkout and its events, and re-queries the channel on request', async () => {
    const { handlers } = shop([order('ord_a')]);
    const withCheckout: FakeHandlers = {
      ...handlers,
      'orders.get': (input) => ({
        ...detailOf(order(input.id)),
        checkouts: [
          {
            channel: 'epay',
            method: 'alipay',
            state: 'open',
            amount: 5000,
            currency: 'CNY',
            createdAt: '2026-03-10T12:00:10.000Z',
            expiresAt: '2026-03-10T12:15:00.000Z',
            queries: 2,
            lastQueryAt: '2026-03-10T12:00:20.000Z',
            lastQueryStatus: 'unpaid',
            nextQueryAt: '2026-03-10T12:00:30.000Z',
          },
        ],
        timeline: [
          {
            source: 'audit',
            at: '2026-03-10T12:00:10.000Z',
            event: 'payment.created',
            seq: null,
            orderTo: null,
            keyIds: [],
            actor: 'gateway:epay',
            detail: { channel: 'epay', method: 'alipay' },
          },
        ],
      }),
      'orders.requery': (input) => ({ order: order(input.id), asked: 1 }),
    };
    window.location.hash = '#/orders/ord_a';
    const transport = setup(<OrdersPage />, withCheckout);
    const panel = await screen.findByRole('complementary', { name: 'Order ord_a' });
    expect(await within(panel).findByText('Checkouts at payment channels')).toBeTruthy();
    expect(text(panel)).toContain('2 status queries');
    expect(within(panel).getByText('Checkout created at the payment channel')).toBeTruthy();
    expect(within(panel).getByText('by epay')).toBeTruthy();
    await userEvent.click(within(panel).getByRole('button', { name: 'Re-query payment' }));
    await waitFor(() =>
      expect(transport.calls.filter((c) => c.method === 'orders.requery')).toEqual([
        { method: 'orders.requery', input: { id: 'ord_a' } },
      ]),
    );
  });

  it('reveals a code on request and shows the reveal in the timeline', async () => {
    const { handlers } = shop([order('ord_a', { status: 'delivered', paidAt: '2026-03-10T12:01:00.000Z' })]);
    let revealed = false;
    const base = handlers['orders.get']!;
    window.location.hash = '#/orders/ord_a';
    const transport = setup(<OrdersPage />, {
      ...handlers,
      'orders.get': async (input) => {
        const detail = await base(input);
        return revealed
          ? {
              ...detail,
              timeline: [
                ...detail.timeline,
                {
                  source: 'audit' as const,
                  at: '2026-03-10T12:02:00.000Z',
                  event: 'key.reveal',
                  seq: null,
                  orderTo: null,
                  keyIds: [7],
                  actor: 'desktop',
                  detail: {},
                },
              ],
            }
          : detail;
      },
      'keys.reveal': () => {
        revealed = true;
        return { code: 'SECRET-CODE-7' };
      },
    });
    const panel = await screen.findByRole('complementary', { name: 'Order ord_a' });
    expect(within(panel).queryByText('SECRET-CODE-7')).toBeNull();
    await userEvent.click(await within(panel).findByRole('button', { name: 'Reveal' }));
    expect(await within(panel).findByText('SECRET-CODE-7')).toBeTruthy();
    expect(transport.calls.find((c) => c.method === 'keys.reveal')?.input).toEqual({ keyId: 7, purpose: 'reveal' });
    expect(await within(panel).findByText('Code revealed')).toBeTruthy();
    expect(within(panel).getByText('by the desktop app')).toBeTruthy();
    await userEvent.click(within(panel).getByRole('button', { name: 'Hide' }));
    expect(within(panel).queryByText('SECRET-CODE-7')).toBeNull();
  });

  it('shows a new order that arrives live, without a reload', async () => {
    const { orders, handlers } = shop([order('ord_a')]);
    const transport = setup(<OrdersPage />, handlers);
    await screen.findByText('ord_a');
    orders.unshift(order('ord_new'));
    act(() => transport.emit({ type: 'order', orderId: 'ord_new', productId: 'prd_a', status: 'reserved' }));
    expect(await screen.findByText('ord_new')).toBeTruthy();
    expect(screen.getByLabelText('New order ord_new')).toBeTruthy();
  });

  it('filters by status when the dashboard links to #/orders/needs_review', async () => {
    const { handlers } = shop([order('ord_a'), order('ord_r', { status: 'needs_review', reviewReason: 'amount_mismatch' })]);
    window.location.hash = '#/orders/needs_review';
    const transport = setup(<OrdersPage />, handlers);
    await waitFor(() =>
      expect(
        transport.calls.some((c) => c.method === 'orders.list' && (c.input as { status?: string }).status === 'needs_review'),
      ).toBe(true),
    );
    expect(await screen.findByText('ord_r')).toBeTruthy();
    expect(screen.queryByText('ord_a')).toBeNull();
    expect(transport.calls.some((c) => c.method === 'orders.get')).toBe(false);
  });

  it('is translated into Chinese', async () => {
    await i18n.changeLanguage('zh-CN');
    const { handlers } = shop([order('ord_a', { status: 'needs_review', reviewReason: 'duplicate_payment' })]);
    window.location.hash = '#/orders/ord_a';
    setup(<OrdersPage />, handlers);
    const panel = await screen.findByRole('complementary', { name: '订单 ord_a' });
    expect(within(screen.getByRole('table', { name: '订单（最新在前）' })).getByText('待审核')).toBeTruthy();
    expect(await within(panel).findByText('该订单收到了第二笔付款')).toBeTruthy();
    expect(within(panel).getByRole('button', { name: '退款…' })).toBeTruthy();
    expect(screen.getByRole('searchbox', { name: '搜索订单' })).toBeTruthy();
  });

  it('has the same keys in English and Chinese', () => {
    const keys = (value: unknown, prefix = ''): string[] =>
      typeof value === 'object' && value !== null
        ? Object.entries(value).flatMap(([k, v]) => keys(v, `${prefix}${k}.`))
        : [prefix];
    expect(keys(ordersStrings['zh-CN']).sort()).toEqual(keys(ordersStrings.en).sort());
    expect(keys(ledgerStrings['zh-CN']).sort()).toEqual(keys(ledgerStrings.en).sort());
  });
});

function entry(seq: number, over: Partial<LedgerEntry> = {}): LedgerEntry {
  return {
    seq,
    at: '2026-03-10T12:00:00.000Z',
    kind: 'reserve',
    productId: 'prd_a',
    orderId: `ord_${seq}`,
    keyIds: String(seq),
    keyCount: 1,
    detail: { keysTo: 'reserved', orderTo: 'reserved' },
    hash: 'ab'.repeat(8),
    ...over,
  };
}

describe('ledger page', () => {
  it('pages the entries and shows the first bad entry when verification fails', async () => {
    const transport = setup(<LedgerPage />, {
      'ledger.list': (input) =>
        input.beforeSeq === undefined
          ? { entries: [entry(3), entry(2)], head: 3, nextBeforeSeq: 2 }
          : {
              entries: [entry(1, { kind: 'import', orderId: null, detail: { keysTo: 'available' } })],
              head: 3,
              nextBeforeSeq: null,
            },
      'ledger.verify': () => ({
        ok: false,
        entries: 3,
        firstBadEntry: 2,
        problems: [
          { seq: 2, reason: 'its contents do not match its hash (edited)' },
          { seq: 3, reason: 'key 4 is sold now, but the ledger left it reserved' },
        ],
      }),
    });
    const table = await screen.findByRole('table', { name: 'Ledger entries, newest first' });
    expect(within(table).getAllByRole('row')).toHaveLength(3);
    expect(within(table).getAllByText('codes → held · order → awaiting payment')).toHaveLength(2);
    await userEvent.click(screen.getByRole('button', { name: 'Load older entries' }));
    expect(await within(table).findByText('Import')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Load older entries' })).toBeNull();

    await userEvent.click(screen.getByRole('button', { name: 'Verify the ledger' }));
    expect(await screen.findByText(/The first bad entry is #2\./)).toBeTruthy();
    expect(screen.getByText('its contents do not match its hash (edited)')).toBeTruthy();
    expect(screen.getByText('code #4 is sold now, but the ledger left it held')).toBeTruthy();
    expect(transport.calls.filter((c) => c.method === 'ledger.verify')).toHaveLength(1);
  });

  it('says the ledger is intact, or words what does not fit, in Chinese too', async () => {
    await i18n.changeLanguage('zh-CN');
    let broken = false;
    setup(<LedgerPage />, {
      'ledger.list': () => ({ entries: [entry(1)], head: 1, nextBeforeSeq: null }),
      'ledger.verify': () =>
        broken
          ? {
              ok: false,
              entries: 1,
              firstBadEntry: 1,
              problems: [{ seq: 1, reason: 'order ord_1 is delivered now, but the ledger left it reserved' }],
            }
          : { ok: true, entries: 1, problems: [] },
    });
    await screen.findByRole('table', { name: '账本记录（最新在前）' });
    await userEvent.click(screen.getByRole('button', { name: '校验账本' }));
    expect(await screen.findByText(/账本完好/)).toBeTruthy();
    broken = true;
    await userEvent.click(screen.getByRole('button', { name: '校验账本' }));
    expect(await screen.findByText('订单 ord_1 当前为“已发货”，但账本中为“待支付”')).toBeTruthy();
  });
});
