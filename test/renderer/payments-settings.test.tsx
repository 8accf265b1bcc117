/**
 * Settings → Payments against a fake transport: every channel's form names exactly its schema's fields,
 * a configured channel shows its notify URL (with the warning when only this PC can reach it) and its
 * self-check, a draft is checked by the channel's schema before anything is sent, a stored secret left
 * empty is kept, a channel is switched off and removed after a confirmation, and the section speaks Chinese.
 */
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { I18nextProvider } from 'react-i18next';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHANNEL_NAMES, channelFields, type ChannelListing } from '../../shared/payments';
import { i18n } from '../../src-renderer/i18n';
import { PaymentsCard } from '../../src-renderer/pages/settings/PaymentsCard';
import { draftOf, PAYMENT_FORMS, problemsOf, settingsOf } from '../../src-renderer/pages/settings/payment-form';
import { settingsStrings } from '../../src-renderer/pages/settings/strings';
import { TransportContext } from '../../src-renderer/transport';
import { createFakeTransport, type FakeTransport } from '../../src-renderer/transport/fake';

beforeAll(() => {
  for (const lang of ['en', 'zh-CN'] as const) i18n.addResourceBundle(lang, 'settings', settingsStrings[lang], true, true);
});
beforeEach(async () => {
  await i18n.changeLanguage('en');
});
afterEach(cleanup);

const EPAY: ChannelListing = {
  name: 'epay',
  enabled: true,
  configured: true,
  fields: ['gateway', 'pid', 'signType', 'key', 'mode', 'methods'],
  methods: ['alipay', 'wxpay'],
  settings: { gateway: 'https://pay.example.com', pid: '1001', signType: 'MD5', mode: 'submit', methods: ['alipay', 'wxpay'] },
  notifyUrl: 'http://127.0.0.1:8787/api/v1/payments/epay/notify',
  updatedAt: '2026-12-06T03:00:00.000Z',
};

function setup(channels: ChannelListing[] = [EPAY]): FakeTransport {
  let list = [...channels];
  const transport = createFakeTransport({
    'payments.list': () => ({ channels: list, publicBase: 'http://127.0.0.1:8787', notifyUnreachable: true }),
    'payments.configure': (input) => {
      const saved = { ...EPAY, name: input.channel, settings: input.settings };
      list = [...list.filter((c) => c.name !== input.channel), saved];
      return { channel: saved };
    },
    'payments.setEnabled': (input) => {
      list = list.map((c) => (c.name === input.channel ? { ...c, enabled: input.enabled } : c));
      return { channel: list.find((c) => c.name === input.channel)! };
    },
    'payments.remove': (input) => {
      list = list.filter((c) => c.name !== input.channel);
      return { removed: true };
    },
    'payments.test': () => ({
      ok: true,
      checks: [{ name: 'sign', ok: true, detail: 'a sample signed with the key verifies' }],
    }),
  });
  render(
    <I18nextProvider i18n={i18n}>
      <TransportContext.Provider value={transport}>
        <PaymentsCard />
      </TransportContext.Provider>
    </I18nextProvider>,
  );
  return transport;
}

const calls = (t: FakeTransport, method: string) => t.calls.filter((c) => c.method === method).map((c) => c.input);

describe('payment forms', () => {
  it("name exactly each channel's settings fields", () => {
    for (const name of CHANNEL_NAMES) {
      expect(PAYMENT_FORMS[name].map((f) => f.name).sort(), name).toEqual(channelFields(name).sort());
    }
  });

  it("check a draft with the channel's schema and keep a stored secret left empty", () => {
    const fresh = draftOf('epay', undefined);
    expect(Object.keys(problemsOf('epay', { ...fresh, gateway: 'ftp://x', pid: '1001' }, undefined)).sort()).toEqual([
      'gateway',
      'key',
    ]);
    const edited = draftOf('epay', EPAY);
    expect(problemsOf('epay', edited, EPAY)).toEqual({});
    expect(settingsOf('epay', edited)).toEqual({
      gateway: 'https://pay.example.com',
      pid: '1001',
      signType: 'MD5',
      mode: 'submit',
      methods: ['alipay', 'wxpay'],
    });
    // RSA asks for the key pair instead of the MD5 key.
    expect(Object.keys(problemsOf('epay', { ...edited, signType: 'RSA' }, EPAY)).sort()).toEqual([
      'platformPublicKey',
      'privateKey',
    ]);
  });
});

describe('Settings → Payments', () => {
  it('shows the notify URL with the warning, runs the self-check, and saves an edit without resending the key', async () => {
    const transport = setup();
    expect(await screen.findByText(/only this PC can reach/)).toBeTruthy();
    const epay = screen.getByRole('listitem', { name: 'epay (易支付)' });
    expect(within(epay).getByText('http://127.0.0.1:8787/api/v1/payments/epay/notify')).toBeTruthy();
    expect(within(epay).getByText('On')).toBeTruthy();

    await userEvent.click(within(epay).getByRole('button', { name: 'Test' }));
    expect(await within(epay).findByText('a sample signed with the key verifies')).toBeTruthy();

    await userEvent.click(within(epay).getByRole('button', { name: 'Edit…' }));
    const key = within(epay).getByLabelText('Merchant key (MD5)');
    expect((key as HTMLInputElement).type).toBe('password');
    expect(within(epay).getByText('Set. Leave empty to keep it.')).toBeTruthy();
    const pid = within(epay).getByRole('textbox', { name: 'Merchant id (pid)' });
    await userEvent.clear(pid);
    await userEvent.type(pid, '2002');
    await userEvent.click(within(epay).getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(calls(transport, 'payments.configure')).toHaveLength(1));
    const sent = calls(transport, 'payments.configure')[0] as { channel: string; settings: Record<string, unknown> };
    expect(sent.channel).toBe('epay');
    expect(sent.settings.pid).toBe('2002');
    expect(sent.settings).not.toHaveProperty('key');
  });

  it('refuses an incomplete Alipay draft without calling, then switches epay off and removes it after confirming', async () => {
    const transport = setup();
    const alipay = await screen.findByRole('listitem', { name: 'Alipay' });
    expect(within(alipay).getByText('Not configured')).toBeTruthy();
    await userEvent.click(within(alipay).getByRole('button', { name: 'Configure…' }));
    await userEvent.type(within(alipay).getByRole('textbox', { name: 'App id' }), 'abc');
    await userEvent.click(within(alipay).getByRole('button', { name: 'Save' }));
    expect(await within(alipay).findByText('appId is the digits of the Alipay application id')).toBeTruthy();
    expect(calls(transport, 'payments.configure')).toEqual([]);

    const epay = screen.getByRole('listitem', { name: 'epay (易支付)' });
    await userEvent.click(within(epay).getByRole('button', { name: 'Switch off' }));
    await waitFor(() => expect(calls(transport, 'payments.setEnabled')).toEqual([{ channel: 'epay', enabled: false }]));
    expect(await within(screen.getByRole('listitem', { name: 'epay (易支付)' })).findByText('Off')).toBeTruthy();

    await userEvent.click(
      within(screen.getByRole('listitem', { name: 'epay (易支付)' })).getByRole('button', { name: 'Remove' }),
    );
    const dialog = await screen.findByRole('dialog', { name: 'Remove epay (易支付)?' });
    await userEvent.click(within(dialog).getByRole('button', { name: 'Remove' }));
    await waitFor(() => expect(calls(transport, 'payments.remove')).toEqual([{ channel: 'epay' }]));
    expect(await within(screen.getByRole('listitem', { name: 'epay (易支付)' })).findByText('Not configured')).toBeTruthy();
  });

  it('speaks Chinese', async () => {
    await i18n.changeLanguage('zh-CN');
    setup();
    expect(await screen.findByText('收款渠道')).toBeTruthy();
    const wechat = screen.getByRole('listitem', { name: '微信支付' });
    expect(within(wechat).getByText('未配置')).toBeTruthy();
    expect(
      within(screen.getByRole('listitem', { name: '易支付 (epay)' })).getByText('填写到支付平台的异步通知地址：'),
    ).toBeTruthy();
  });
});
