/** The Reconcile page against a fake transport: groups and counts, the expected/actual diff, filter and search, a previewed and confirmed action, resolved shown as resolved, dispute lookup, zh-CN. */
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ReconcileFinding, ReconcileReport } from '../../shared/reconcile';
import { i18n } from '../../src-renderer/i18n';
import { ReconcilePage } from '../../src-renderer/pages/reconcile/ReconcilePage';
import { useReconcile } from '../../src-renderer/pages/reconcile/store';
import { reconcileStrings } from '../../src-renderer/pages/reconcile/strings';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeHandlers, type FakeTransport } from '../../src-renderer/transport/fake';

beforeAll(() => {
  for (const lang of ['en', 'zh-CN'] as const) i18n.addResourceBundle(lang, 'reconcile', reconcileStrings[lang], true, true);
});
beforeEach(async () => {
  useReconcile.getState().reset();
  await i18n.changeLanguage('en');
});
afterEach(cleanup);

function finding(over: Partial<ReconcileFinding> & Pick<ReconcileFinding, 'id' | 'kind'>): ReconcileFinding {
  return {
    subject: over.id.slice(over.id.indexOf(':') + 1),
    status: 'open',
    orderId: null,
    productId: null,
    paymentId: null,
    keyIds: [],
    amount: null,
    summary: over.id,
    expected: {},
    actual: {},
    evidence: [],
    actions: ['resolve'],
    resolution: null,
    present: true,
    ...over,
  };
}

function shop() {
  const findings: ReconcileFinding[] = [
    finding({
      id: 'amount_mismatch:pi_1',
      kind: 'amount_mismatch',
      orderId: 'ord_1',
      paymentId: 'pi_1',
      amount: { amount: -500, currency: 'CNY' },
      summary: 'payment pi_1 is 4500 CNY; order ord_1 costs 5000 CNY',
      expected: { amount: 5000, currency: 'CNY' },
      actual: { amount: 4500, currency: 'CNY' },
      evidence: [{ source: 'statement_row', ref: 'pi_1', fields: { amount: 4500 } }],
      actions: ['refund', 'resolve'],
    }),
    finding({
      id: 'stock_drift:prd_a',
      kind: 'stock_drift',
      productId: 'prd_a',
      summary: 'product Steam 50 (prd_a): stored counters disagree with the key rows',
      expected: { available: 3, reserved: 0, sold: 1 },
      actual: { available: 3, reserved: 0, sold: 4 },
    }),
  ];
  const report = (): ReconcileReport => {
    const counts: ReconcileReport['counts'] = {};
    for (const f of findings) {
      const c = (counts[f.kind] ??= { open: 0, resolved: 0 });
      c[f.status === 'open' ? 'open' : 'resolved']++;
    }
    return { ranAt: '2026-11-25T10:00:00.000Z', statementIds: [1], findings: [...findings], counts, truncated: false };
  };
  const handlers: FakeHandlers = {
    'reconcile.run': () => report(),
    'reconcile.statements': () => ({ statements: [] }),
    'reconcile.action': (input) => {
      const outcomes = input.targets.map((t) => ({
        findingId: t.findingId,
        action: input.action,
        orderId: null,
        effects: [`mark ${t.findingId} resolved by test: ${input.note}`],
      }));
      if (!input.preview) {
        for (const t of input.targets) {
          const i = findings.findIndex((f) => f.id === t.findingId);
          findings[i] = {
            ...findings[i]!,
            status: 'resolved',
            resolution: { action: input.action, note: input.note, actor: 'desktop', at: '2026-11-25T10:05:00.000Z' },
          };
        }
      }
      return { preview: input.preview ?? false, outcomes };
    },
    'reconcile.lookup': (input) => ({
      query: input.query,
      matchedBy: 'order',
      orders: [
        {
          id: 'ord_1',
          status: 'delivered',
          productId: 'prd_a',
          email: 'a@example.com',
          amount: 5000,
          currency: 'CNY',
          createdAt: '2026-11-25T09:00:00.000Z',
          reviewReason: null,
        },
      ],
      keys: [{ id: 7, productId: 'prd_a', status: 'sold', orderId: 'ord_1', fingerprint: 'abcdef0123456789' }],
      timeline: [{ at: '2026-11-25T09:00:00.000Z', source: 'ledger', ref: '#4', orderId: 'ord_1', what: 'sell', detail: {} }],
    }),
  };
  return { findings, handlers };
}

function setup(handlers: FakeHandlers): FakeTransport {
  const transport = createFakeTransport(handlers);
  render(
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>
        <ReconcilePage />
      </TransportContext.Provider>
    </I18nextProvider>,
  );
  return transport;
}

describe('reconcile page', () => {
  it('groups findings by kind with counts and money at stake, and highlights what differs', async () => {
    setup(shop().handlers);
    const group = await screen.findByRole('region', { name: /Amount differs from the order/ });
    expect(within(group).getByText('1 open')).toBeTruthy();
    expect(group.textContent).toMatch(/5\.00/);
    const diff = within(group).getByRole('table');
    const rows = within(diff).getAllByRole('row');
    const amountRow = rows.find((r) => r.textContent?.startsWith('amount'))!;
    const currencyRow = rows.find((r) => r.textContent?.startsWith('currency'))!;
    expect(amountRow.className).toContain('rc-diff__row--differs');
    expect(amountRow.textContent).toContain('5000');
    expect(amountRow.textContent).toContain('4500');
    expect(currencyRow.className).not.toContain('differs');
    expect(screen.getByRole('region', { name: /Stock counters drifted/ })).toBeTruthy();
  });

  it('filters by kind and searches', async () => {
    setup(shop().handlers);
    await screen.findByRole('region', { name: /Stock counters drifted/ });
    await userEvent.type(screen.getByRole('searchbox', { name: 'Search findings' }), 'pi_1');
    await waitFor(() => expect(screen.queryByRole('region', { name: /Stock counters drifted/ })).toBeNull());
    expect(screen.getByRole('region', { name: /Amount differs/ })).toBeTruthy();
    await userEvent.clear(screen.getByRole('searchbox', { name: 'Search findings' }));
    await userEvent.click(screen.getByRole('button', { name: /Stock counters drifted/, pressed: false }));
    await waitFor(() => expect(screen.queryByRole('region', { name: /Amount differs/ })).toBeNull());
  });

  it('previews an action before it can be applied, then shows the finding as resolved', async () => {
    const transport = setup(shop().handlers);
    const group = await screen.findByRole('region', { name: /Stock counters drifted/ });
    await userEvent.click(within(group).getByRole('button', { name: 'Mark resolved' }));
    const dialog = await screen.findByRole('dialog');
    const apply = within(dialog).getByRole('button', { name: 'Confirm and apply' });
    expect((apply as HTMLButtonElement).disabled).toBe(true);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    expect(within(dialog).getByText('A note saying why is required.')).toBeTruthy();
    await userEvent.type(within(dialog).getByRole('textbox', { name: 'Note (why)' }), 'counted by hand');
    await userEvent.click(within(dialog).getByRole('button', { name: 'Preview' }));
    expect(await within(dialog).findByText('mark stock_drift:prd_a resolved by test: counted by hand')).toBeTruthy();
    expect(
      transport.calls.filter((c) => c.method === 'reconcile.action').map((c) => (c.input as { preview: boolean }).preview),
    ).toEqual([true]);
    await userEvent.click(within(dialog).getByRole('button', { name: 'Confirm and apply' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    // Open findings only by default: it left the list; "Resolved" shows it, with who and why.
    await waitFor(() => expect(screen.queryByRole('region', { name: /Stock counters drifted/ })).toBeNull());
    await userEvent.selectOptions(screen.getByRole('combobox', { name: 'Show' }), 'resolved');
    const resolved = await screen.findByRole('region', { name: /Stock counters drifted/ });
    expect(within(resolved).getByText('Resolved')).toBeTruthy();
    expect(resolved.textContent).toContain('counted by hand');
  });

  it('looks a dispute up and lists its orders, codes and timeline', async () => {
    const transport = setup(shop().handlers);
    await screen.findByRole('region', { name: /Amount differs/ });
    await userEvent.type(screen.getByRole('textbox', { name: 'Look up' }), 'ord_1');
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));
    expect(await screen.findByText('Code #7 · sold')).toBeTruthy();
    expect(screen.getByText('Order id')).toBeTruthy();
    expect(transport.calls.some((c) => c.method === 'reconcile.lookup' && (c.input as { query: string }).query === 'ord_1')).toBe(
      true,
    );
  });

  it("imports a bill with the shop's time zone and days, and says which period it was compared over", async () => {
    const { handlers } = shop();
    const transport = setup({
      ...handlers,
      'reconcile.importStatement': (input) => ({
        statement: {
          id: 2,
          format: 'wechat',
          source: input.fileName,
          rows: 3,
          periodStart: '2026-12-03T16:00:00.000Z',
          periodEnd: '2026-12-04T15:59:59.999Z',
          periodRule: 'given',
          importedAt: '2026-12-05T01:00:00.000Z',
        },
        imported: 3,
        duplicates: 0,
        encoding: 'utf-8',
        skipped: [],
      }),
    });
    await screen.findByRole('region', { name: /Amount differs/ });
    const file = new File(['x'], 'wechat-1204.csv', { type: 'text/csv' });
    // jsdom's File has no arrayBuffer(); a browser's has.
    Object.defineProperty(file, 'arrayBuffer', { value: () => Promise.resolve(new TextEncoder().encode('x').buffer) });
    await userEvent.upload(screen.getByTestId('statement-file'), file);
    await userEvent.type(screen.getByRole('textbox', { name: /Shop time zone/ }), 'Asia/Shanghai');
    const from = screen.getByLabelText('Bill from (optional)');
    const to = screen.getByLabelText('Bill to (optional)');
    await userEvent.type(from, '2026-12-04');
    await userEvent.type(to, '2026-12-04');
    await userEvent.click(screen.getByRole('button', { name: 'Import and compare' }));
    await waitFor(() => expect(screen.getByRole('status').textContent).toMatch(/Compared over .* \(as you gave it\)\./));
    const sent = transport.calls.find((c) => c.method === 'reconcile.importStatement')?.input as Record<string, unknown>;
    expect(sent).toMatchObject({ fileName: 'wechat-1204.csv', timeZone: 'Asia/Shanghai', from: '2026-12-04', to: '2026-12-04' });
  });

  it('speaks Simplified Chinese', async () => {
    await i18n.changeLanguage('zh-CN');
    setup(shop().handlers);
    expect(await screen.findByRole('region', { name: /金额与订单不符/ })).toBeTruthy();
    expect(screen.getByRole('button', { name: '立即对账' })).toBeTruthy();
  });

  it('has the same keys in English and Chinese', () => {
    const keys = (o: unknown, prefix = ''): string[] =>
      Object.entries(o as Record<string, unknown>).flatMap(([k, v]) =>
        typeof v === 'object' && v !== null ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
      );
    expect(keys(reconcileStrings['zh-CN']).sort()).toEqual(keys(reconcileStrings.en).sort());
  });
});
