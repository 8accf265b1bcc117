/**
 * The buyer page (src-main/http/public/): both translation catalogues are complete and match, every
 * key the page uses exists, index.html stays compatible with `Content-Security-Policy: default-src
 * 'self'` (no inline script, handler or style, nothing from another origin), and the page's pure
 * logic holds — above all that a retried purchase reuses its Idempotency-Key and so never buys twice.
 * End-to-end browser tests live elsewhere; this file runs in Node.
 */
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

const PUBLIC_DIR = fileURLToPath(new URL('../src-main/http/public/', import.meta.url));
const read = (file: string): string => readFileSync(join(PUBLIC_DIR, file), 'utf8');

type Lang = 'zh-CN' | 'en';

interface I18nModule {
  CATALOGUES: Record<Lang, Record<string, string>>;
  LANGUAGES: readonly Lang[];
  pickLanguage(sources: { query?: string | null; stored?: string | null; browser?: string | null }): Lang;
  normalizeLang(tag: string | null | undefined): Lang | null;
  setLang(lang: Lang): void;
  t(key: string, params?: Record<string, string | number>): string;
  formatMoney(minor: number, currency: string): string;
  formatDuration(ms: number): string;
}

type ApiResult =
  | { kind: 'ok'; status: number; data: unknown; headers: Headers }
  | { kind: 'problem'; status: number; problem: { code?: string; detail?: string; title?: string }; headers: Headers }
  | { kind: 'network'; error: unknown };

interface OrderRequest {
  productId: string;
  quantity: number;
  email: string;
}

interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface PurchaseAttemptsInstance {
  keyFor(request: OrderRequest): string;
  isPending(request: OrderRequest): boolean;
  settle(): void;
}

interface AppModule {
  PurchaseAttempts: new (options?: { newKey?: () => string; storage?: StorageLike | null }) => PurchaseAttemptsInstance;
  newIdempotencyKey(): string;
  isRetryable(result: ApiResult): boolean;
  retryAfterSeconds(value: string | null | undefined, now?: number): number | null;
  isValidEmail(value: string): boolean;
  parseQuantity(raw: string, max: number): number | null;
  parseRoute(hash: string): { view: 'shop' } | { view: 'order'; id: string; token: string | null };
  orderHash(id: string, token: string): string;
  apiRequest(
    path: string,
    options?: { method?: string; headers?: Record<string, string>; body?: unknown; timeoutMs?: number; fetchImpl?: typeof fetch },
  ): Promise<ApiResult>;
}

// The page is plain JavaScript served as is; load it the way a browser would, as ES modules.
const load = <T>(file: string): Promise<T> => import(pathToFileURL(join(PUBLIC_DIR, file)).href) as Promise<T>;

let i18n: I18nModule;
let app: AppModule;

interface PayModule {
  methodLabel(channel: string, method: string): string;
  scanHint(channel: string, method: string): string;
  payProblem(result: ApiResult, currency: string): { kind: string; text: string };
}
let pay: PayModule;

beforeAll(async () => {
  i18n = await load<I18nModule>('i18n.js');
  app = await load<AppModule>('app.js');
  pay = await load<PayModule>('pay.js');
});

afterEach(() => {
  i18n.setLang('en');
  vi.unstubAllGlobals();
});

// ---------------------------------------------------------------- translation keys

/** Keys a script uses: literal first arguments of `t(...)` and `key: '...'` in notice objects. */
function keysUsedIn(file: string): { keys: Set<string>; nonLiteral: string[] } {
  const source = ts.createSourceFile(file, read(file), ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const keys = new Set<string>();
  const nonLiteral: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 't') {
      const first = node.arguments[0];
      if (first && ts.isStringLiteralLike(first)) keys.add(first.text);
      else nonLiteral.push(first ? first.getText(source) : '<none>');
    }
    if (ts.isPropertyAssignment(node) && node.name.getText(source) === 'key' && ts.isStringLiteralLike(node.initializer)) {
      keys.add(node.initializer.text);
    }
    // `shop.message.key === 'buy.rateLimited'` and similar comparisons name keys too.
    if (
      ts.isBinaryExpression(node) &&
      ts.isStringLiteralLike(node.right) &&
      /^[a-z]+(?:\.\w+)+$/.test(node.right.text) &&
      /\.key$|^stale$/.test(node.left.getText(source))
    ) {
      keys.add(node.right.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { keys, nonLiteral };
}

const keysUsedInApp = () => keysUsedIn('app.js');
const keysUsedInPay = () => keysUsedIn('pay.js');

/** Keys index.html names in data-i18n and data-i18n-aria-label attributes. */
function keysUsedInHtml(): Set<string> {
  const html = read('index.html');
  return new Set([...html.matchAll(/\sdata-i18n(?:-aria-label)?="([^"]+)"/g)].map((m) => m[1]!));
}

const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!).sort();

describe('translation catalogues', () => {
  it('zh-CN and English have exactly the same keys, all non-empty, with the same placeholders', () => {
    const zh = i18n.CATALOGUES['zh-CN'];
    const en = i18n.CATALOGUES.en;
    expect(Object.keys(zh).sort()).toEqual(Object.keys(en).sort());
    expect(i18n.LANGUAGES).toEqual(['zh-CN', 'en']);
    for (const [key, text] of Object.entries(en)) {
      expect(text.trim(), `en ${key}`).not.toBe('');
      expect((zh[key] ?? '').trim(), `zh-CN ${key}`).not.toBe('');
      expect(placeholders(zh[key] ?? ''), `placeholders of ${key}`).toEqual(placeholders(text));
    }
  });

  it('every key app.js passes to t() exists in both catalogues, and every t() call names its key literally', () => {
    const { keys, nonLiteral } = keysUsedInApp();
    expect(keys.size).toBeGreaterThan(40);
    // The only indirect calls: a Notice's key (literals collected above) and the data-i18n attributes
    // of index.html (checked below).
    expect([...new Set(nonLiteral)].sort()).toEqual(['key', 'notice.key']);
    for (const lang of i18n.LANGUAGES) {
      const missing = [...keys].filter((key) => !(key in i18n.CATALOGUES[lang]));
      expect(missing, `keys missing from ${lang}`).toEqual([]);
    }
  });

  it('every key pay.js passes to t() exists in both catalogues, each named literally', () => {
    const { keys, nonLiteral } = keysUsedInPay();
    expect(keys.size).toBeGreaterThan(20);
    expect(nonLiteral).toEqual([]);
    for (const lang of i18n.LANGUAGES) {
      expect(
        [...keys].filter((key) => !(key in i18n.CATALOGUES[lang])),
        `keys missing from ${lang}`,
      ).toEqual([]);
    }
  });

  it('every key index.html names exists in both catalogues', () => {
    const keys = keysUsedInHtml();
    expect(keys.size).toBeGreaterThan(15);
    for (const lang of i18n.LANGUAGES) {
      const missing = [...keys].filter((key) => !(key in i18n.CATALOGUES[lang]));
      expect(missing, `keys missing from ${lang}`).toEqual([]);
    }
  });

  it('has no unused entries', () => {
    const used = new Set([...keysUsedInApp().keys, ...keysUsedInPay().keys, ...keysUsedInHtml()]);
    expect(Object.keys(i18n.CATALOGUES.en).filter((key) => !used.has(key))).toEqual([]);
  });

  it('t() fills placeholders in the current language', () => {
    i18n.setLang('zh-CN');
    expect(i18n.t('shop.soldOut')).toBe('已售罄');
    expect(i18n.t('buy.rateLimited', { seconds: 30 })).toContain('30');
    i18n.setLang('en');
    expect(i18n.t('shop.soldOut')).toBe('Sold out');
    expect(i18n.t('buy.rateLimited', { seconds: 12 })).toBe('Too many requests. Please try again in 12 s.');
  });

  it('picks the language from ?lang=, then storage, then the browser (zh* is zh-CN)', () => {
    expect(i18n.pickLanguage({ query: 'en', stored: 'zh-CN', browser: 'zh-CN' })).toBe('en');
    expect(i18n.pickLanguage({ query: 'zh', stored: 'en', browser: 'en-US' })).toBe('zh-CN');
    expect(i18n.pickLanguage({ query: 'fr', stored: 'zh-CN', browser: 'en-US' })).toBe('zh-CN');
    expect(i18n.pickLanguage({ query: null, stored: null, browser: 'zh-TW' })).toBe('zh-CN');
    expect(i18n.pickLanguage({ query: null, stored: null, browser: 'de-DE' })).toBe('en');
    expect(i18n.pickLanguage({})).toBe('en');
  });

  it('formats minor units in the product currency', () => {
    i18n.setLang('en');
    expect(i18n.formatMoney(5000, 'CNY')).toBe('¥50.00');
    expect(i18n.formatMoney(2599, 'USD')).toBe('$25.99');
    expect(i18n.formatMoney(500, 'JPY')).toBe('¥500');
    i18n.setLang('zh-CN');
    expect(i18n.formatMoney(5000, 'CNY')).toBe('¥50.00');
    expect(i18n.formatDuration(14 * 60_000 + 5_000)).toBe('14:05');
    expect(i18n.formatDuration(3_600_000 + 61_000)).toBe('1:01:01');
  });
});

// ---------------------------------------------------------------- CSP and no external resources

describe('index.html under a strict CSP', () => {
  const html = read('index.html');
  const tags = [...html.matchAll(/<([a-zA-Z][\w-]*)((?:\s+[^\s=>]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*)\s*\/?>/g)].map(
    (m) => ({
      name: m[1]!.toLowerCase(),
      attributes: [...(m[2] ?? '').matchAll(/([^\s=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)].map((a) => ({
        name: a[1]!.toLowerCase(),
        value: a[2] ?? a[3] ?? a[4] ?? '',
      })),
    }),
  );

  it('has no inline script: every script is an empty external module from this origin', () => {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\ssrc="[^"]+"/);
      expect(attributes).toMatch(/\stype="module"/);
      expect((body ?? '').trim()).toBe('');
    }
  });

  it('has no inline event handler, style attribute, <style> element or javascript: URL', () => {
    expect(tags.length).toBeGreaterThan(50);
    for (const tag of tags) {
      for (const attribute of tag.attributes) {
        expect(attribute.name, `<${tag.name}>`).not.toMatch(/^on/);
        expect(attribute.name, `<${tag.name}>`).not.toBe('style');
        expect(attribute.value.trim().toLowerCase(), `<${tag.name} ${attribute.name}>`).not.toMatch(/^javascript:/);
      }
    }
    expect(html).not.toMatch(/<style\b/i);
  });

  it('loads nothing from another origin', () => {
    for (const tag of tags) {
      for (const attribute of tag.attributes.filter((a) =>
        ['src', 'href', 'action', 'srcset', 'poster', 'data'].includes(a.name),
      )) {
        expect(attribute.value, `<${tag.name} ${attribute.name}>`).not.toMatch(/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i);
      }
    }
    expect(read('style.css')).not.toMatch(/@import|url\(\s*['"]?(?:[a-z]+:|\/\/)/i);
  });

  it('declares the page language, a viewport, and both colour schemes', () => {
    expect(html).toMatch(/<html lang="[^"]+"/);
    expect(html).toMatch(/<meta name="viewport" content="width=device-width, initial-scale=1"/);
    expect(read('style.css')).toMatch(/prefers-color-scheme:\s*dark/);
  });

  it('keeps the scripts type-checked and free of HTML injection and eval', () => {
    for (const file of ['app.js', 'i18n.js', 'pay.js']) {
      const source = read(file);
      expect(source.startsWith('// @ts-check\n'), file).toBe(true);
      expect(source, file).not.toMatch(
        /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\(\s*['"]style/,
      );
      expect(source, file).not.toMatch(/https?:\/\//);
    }
  });
});

// ---------------------------------------------------------------- purchase logic

const request: OrderRequest = { productId: 'prod_1', quantity: 1, email: 'buyer@example.com' };

function memoryStorage(): StorageLike & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (key) => data.get(key) ?? null,
    setItem: (key, value) => void data.set(key, value),
    removeItem: (key) => void data.delete(key),
  };
}

describe('Idempotency-Key per purchase attempt', () => {
  it('reuses the key for a retry of the same request and makes a new one once the attempt is settled', () => {
    let n = 0;
    const attempts = new app.PurchaseAttempts({ newKey: () => `key-${++n}` });
    expect(attempts.keyFor(request)).toBe('key-1');
    expect(attempts.isPending(request)).toBe(true);
    expect(attempts.keyFor({ ...request })).toBe('key-1');
    attempts.settle();
    expect(attempts.isPending(request)).toBe(false);
    expect(attempts.keyFor(request)).toBe('key-2');
  });

  it('gives a changed request a new key (the server would refuse the old key with another body)', () => {
    let n = 0;
    const attempts = new app.PurchaseAttempts({ newKey: () => `key-${++n}` });
    expect(attempts.keyFor(request)).toBe('key-1');
    expect(attempts.keyFor({ ...request, quantity: 2 })).toBe('key-2');
    expect(attempts.keyFor({ ...request, quantity: 2, email: 'other@example.com' })).toBe('key-3');
  });

  it('keeps the open attempt across a page reload (sessionStorage)', () => {
    const storage = memoryStorage();
    const first = new app.PurchaseAttempts({ storage });
    const key = first.keyFor(request);
    const afterReload = new app.PurchaseAttempts({ storage });
    expect(afterReload.keyFor(request)).toBe(key);
    afterReload.settle();
    expect(storage.data.size).toBe(0);
    expect(new app.PurchaseAttempts({ storage: { ...storage, getItem: () => '{not json' } }).isPending(request)).toBe(false);
  });

  it('treats only answers that leave the outcome open as retryable', () => {
    const headers = new Headers();
    const problem = (status: number, code: string): ApiResult => ({ kind: 'problem', status, problem: { code }, headers });
    expect(app.isRetryable({ kind: 'network', error: new TypeError('Failed to fetch') })).toBe(true);
    expect(app.isRetryable(problem(503, 'busy'))).toBe(true);
    expect(app.isRetryable(problem(500, 'internal_error'))).toBe(true);
    expect(app.isRetryable(problem(429, 'rate_limited'))).toBe(true);
    expect(app.isRetryable(problem(409, 'idempotency_key_in_flight'))).toBe(true);
    expect(app.isRetryable(problem(409, 'sold_out'))).toBe(false);
    expect(app.isRetryable(problem(422, 'validation_failed'))).toBe(false);
    expect(app.isRetryable({ kind: 'ok', status: 201, data: {}, headers })).toBe(false);
  });

  it('sends the same key again when the buyer retries after a network failure, so only one order exists', async () => {
    // A fake shop: the first request is processed but its answer is lost; a repeat with the same key
    // replays the stored answer, like the real endpoint.
    const stored = new Map<string, { status: number; body: string }>();
    let ordersCreated = 0;
    let dropAnswer = true;
    const sentKeys: string[] = [];
    const fetchImpl = (async (_url: string, init: RequestInit) => {
      const key = new Headers(init.headers).get('Idempotency-Key') ?? '';
      sentKeys.push(key);
      let answer = stored.get(key);
      if (!answer) {
        ordersCreated++;
        answer = { status: 201, body: JSON.stringify({ order: { id: `ord_${ordersCreated}`, accessToken: 'tok' } }) };
        stored.set(key, answer);
      }
      if (dropAnswer) {
        dropAnswer = false;
        throw new TypeError('Failed to fetch');
      }
      return new Response(answer.body, { status: answer.status, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof fetch;

    const attempts = new app.PurchaseAttempts();
    const buy = async (): Promise<ApiResult> => {
      const result = await app.apiRequest('/api/v1/orders', {
        method: 'POST',
        headers: { 'Idempotency-Key': attempts.keyFor(request) },
        body: request,
        fetchImpl,
      });
      if (!app.isRetryable(result)) attempts.settle();
      return result;
    };
    expect((await buy()).kind).toBe('network');
    const retried = await buy();
    expect(retried.kind).toBe('ok');
    expect(sentKeys).toHaveLength(2);
    expect(sentKeys[0]).toBe(sentKeys[1]);
    expect(ordersCreated).toBe(1);
    expect(attempts.isPending(request)).toBe(false);
  });

  it('makes RFC 4122 v4 keys, also without crypto.randomUUID (plain-HTTP LAN shops)', () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(app.newIdempotencyKey()).toMatch(uuid);
    vi.stubGlobal('crypto', { getRandomValues: <T extends Uint8Array>(array: T): T => webcrypto.getRandomValues(array) });
    const a = app.newIdempotencyKey();
    expect(a).toMatch(uuid);
    expect(app.newIdempotencyKey()).not.toBe(a);
  });
});

describe('paying', () => {
  it('names every channel method in both languages, and an unknown one by its names', () => {
    const names = (lang: Lang) => {
      i18n.setLang(lang);
      return [
        ['epay', 'alipay'],
        ['epay', 'wxpay'],
        ['epay', 'qqpay'],
        ['alipay', 'precreate'],
        ['alipay', 'page'],
        ['wechatpay', 'native'],
        ['stripe', 'card'],
        ['epay', 'bank'],
      ].map(([channel, method]) => pay.methodLabel(channel!, method!));
    };
    expect(names('zh-CN')).toEqual([
      '支付宝',
      '微信支付',
      'QQ钱包',
      '支付宝扫码',
      '支付宝网页支付',
      '微信扫码',
      '银行卡 (Stripe)',
      'epay：bank',
    ]);
    expect(names('en')).toEqual([
      'Alipay',
      'WeChat Pay',
      'QQ Wallet',
      'Alipay (scan)',
      'Alipay (web)',
      'WeChat Pay (scan)',
      'Card (Stripe)',
      'epay: bank',
    ]);
    expect(pay.scanHint('epay', 'wxpay')).toBe('Open WeChat and scan to pay');
    expect(pay.scanHint('alipay', 'precreate')).toBe('Open Alipay and scan to pay');
  });

  it("tells the buyer what went wrong with a checkout in the buyer's words", () => {
    const problem = (code: string, status: number): ApiResult => ({
      kind: 'problem',
      status,
      problem: { code, detail: 'internal words' },
      headers: new Headers(),
    });
    expect(pay.payProblem(problem('channel_unavailable', 502), 'CNY')).toEqual({
      kind: 'warning',
      text: 'The payment service did not answer. Try again or choose another method.',
    });
    expect(pay.payProblem(problem('currency_not_supported', 409), 'USD').text).toBe(
      'This payment method does not take USD. Please choose another.',
    );
    expect(pay.payProblem(problem('order_not_payable', 409), 'CNY').text).toBe('This order can no longer be paid.');
    expect(pay.payProblem({ kind: 'network', error: new Error('x') }, 'CNY').kind).toBe('warning');
    i18n.setLang('zh-CN');
    expect(pay.payProblem(problem('channel_not_configured', 404), 'CNY').text).toBe('此付款方式已不再提供，请选择其他方式。');
  });
});

describe('API calls', () => {
  it('reads problems, keeps Retry-After, and reports a lost answer as a network failure', async () => {
    const problemFetch = (async () =>
      new Response(
        JSON.stringify({
          type: 'about:blank',
          title: 'Too many requests',
          status: 429,
          detail: 'slow down',
          code: 'rate_limited',
        }),
        {
          status: 429,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '17' },
        },
      )) as unknown as typeof fetch;
    const limited = await app.apiRequest('/api/v1/orders', { fetchImpl: problemFetch });
    expect(limited.kind).toBe('problem');
    if (limited.kind !== 'problem') return;
    expect(limited.problem.code).toBe('rate_limited');
    expect(app.retryAfterSeconds(limited.headers.get('Retry-After'))).toBe(17);

    const notJson = (async () => new Response('<html>proxy</html>', { status: 201 })) as unknown as typeof fetch;
    expect((await app.apiRequest('/api/v1/orders', { fetchImpl: notJson })).kind).toBe('network');

    const hang = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) =>
        init.signal?.addEventListener('abort', () => reject(new Error('aborted'))),
      )) as unknown as typeof fetch;
    expect((await app.apiRequest('/api/v1/products', { fetchImpl: hang, timeoutMs: 20 })).kind).toBe('network');
  });

  it('parses Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(app.retryAfterSeconds('30', now)).toBe(30);
    expect(app.retryAfterSeconds('Wed, 01 Jan 2025 00:00:45 GMT', now)).toBe(45);
    expect(app.retryAfterSeconds('soon', now)).toBeNull();
    expect(app.retryAfterSeconds(null, now)).toBeNull();
  });
});

describe('form and routes', () => {
  it('validates e-mail addresses and quantities', () => {
    for (const ok of ['a@b.cn', 'buyer.name+tag@example.co.uk', '用户@例子.中国']) expect(app.isValidEmail(ok), ok).toBe(true);
    for (const bad of [
      '',
      'plain',
      'a@b',
      '@example.com',
      'a b@example.com',
      'a@@example.com',
      'a@example.',
      `${'x'.repeat(250)}@e.com`,
    ]) {
      expect(app.isValidEmail(bad), bad).toBe(false);
    }
    expect(app.parseQuantity('1', 5)).toBe(1);
    expect(app.parseQuantity(' 5 ', 5)).toBe(5);
    for (const bad of ['0', '6', '-1', '1.5', '', 'two', '1e2']) expect(app.parseQuantity(bad, 5), bad).toBeNull();
  });

  it('keeps the order id and access token in the URL fragment', () => {
    const hash = app.orderHash('ord/1 x', 'tok+/=');
    expect(hash.startsWith('#/order/')).toBe(true);
    expect(app.parseRoute(hash)).toEqual({ view: 'order', id: 'ord/1 x', token: 'tok+/=' });
    expect(app.parseRoute('#/order/abc')).toEqual({ view: 'order', id: 'abc', token: null });
    expect(app.parseRoute('')).toEqual({ view: 'shop' });
    expect(app.parseRoute('#/')).toEqual({ view: 'shop' });
    expect(app.parseRoute('#/order/%E0%A4%A')).toEqual({ view: 'shop' });
  });
});
