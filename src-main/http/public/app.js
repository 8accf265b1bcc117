// @ts-check
/**
 * OnceKey buyer page: the products on sale, the purchase form and the order view.
 *
 * Plain ES module, no framework, no build step; the page runs under `Content-Security-Policy:
 * default-src 'self'`, so there is no inline script, handler or style anywhere. All text goes through
 * `t()` (i18n.js) and every value from the server is written with `textContent`, never as HTML.
 *
 * Routes live in the URL fragment, so nothing in them is ever sent to the server:
 *   `#/`                               the shop
 *   `#/order/<id>?token=<accessToken>` one order, polled every 3 s until it is final (2 s while a
 *                                      checkout is under way); a reserved order is paid from here (pay.js)
 *
 * The one rule that matters most: a purchase attempt gets one `Idempotency-Key`, and a retry after a
 * network failure sends the same key again, so a retry can never buy twice (see PurchaseAttempts).
 */
import {
  formatDateTime,
  formatDuration,
  formatMoney,
  getLang,
  LANG_STORAGE_KEY,
  LANGUAGES,
  normalizeLang,
  pickLanguage,
  setLang,
  t,
} from './i18n.js';
import { CHECKOUT_POLL_MS, PayPanel } from './pay.js';

// ---------------------------------------------------------------- types

/** @typedef {import('./i18n.js').Lang} Lang */
/** @typedef {{ amount: number, currency: string }} Money */
/** @typedef {{ id: string, name: string, price: Money, stock: { available: number } }} Product */
/** @typedef {'reserved' | 'paid' | 'delivered' | 'expired' | 'refunded' | 'needs_review'} OrderStatus */
/**
 * @typedef {object} Order
 * @property {string} id
 * @property {OrderStatus} status
 * @property {string} productId
 * @property {number} quantity
 * @property {number} amount
 * @property {string} currency
 * @property {string} email
 * @property {string} [createdAt]
 * @property {string} expiresAt
 * @property {string | null} [paidAt]
 * @property {string | null} [deliveredAt]
 * @property {string[]} [codes] present only when delivered
 * @property {string} [accessToken] present only in the creation answer
 */
/** @typedef {{ type?: string, title?: string, status?: number, detail?: string, code?: string }} Problem */
/**
 * The outcome of one API call: a success, an RFC 9457 problem, or no usable answer at all (the
 * request may or may not have reached the server).
 * @typedef {{ kind: 'ok', status: number, data: any, headers: Headers }
 *   | { kind: 'problem', status: number, problem: Problem, headers: Headers }
 *   | { kind: 'network', error: unknown }} ApiResult
 */
/** @typedef {{ productId: string, quantity: number, email: string }} OrderRequest */
/** @typedef {{ view: 'shop' } | { view: 'order', id: string, token: string | null }} Route */
/** @typedef {'error' | 'warning' | 'info' | 'success'} NoticeKind */
/** @typedef {{ kind: NoticeKind, key: string, params?: Record<string, string | number> }} Notice */

// ---------------------------------------------------------------- constants

export const API = '/api/v1';
/** How often the product list (stock) is refreshed while the shop is visible. */
export const PRODUCTS_REFRESH_MS = 5000;
/** How often an order that is not final yet is polled. */
export const ORDER_POLL_MS = 3000;
/** A request without an answer after this long counts as a network failure. */
export const REQUEST_TIMEOUT_MS = 15000;
/** Order statuses after which nothing changes any more: polling stops. */
export const FINAL_STATUSES = /** @type {readonly OrderStatus[]} */ (['delivered', 'expired', 'refunded']);

const ORDER_TOKEN_PREFIX = 'oncekey.order.';
const RECENT_ORDERS_KEY = 'oncekey.recentOrders';
const PENDING_ATTEMPT_KEY = 'oncekey.pendingPurchase';
const RECENT_ORDERS_MAX = 5;

// ---------------------------------------------------------------- pure helpers (exported for tests)

/**
 * A fresh random UUID (v4). `crypto.randomUUID` needs a secure context; a shop served over plain
 * HTTP on a LAN address still has `crypto.getRandomValues`, so fall back to it.
 * @returns {string}
 */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Hands out the `Idempotency-Key` of each purchase attempt.
 *
 * An attempt is one order request (product, quantity, e-mail). Its key is created once and reused for
 * every retry of the same request until the server gives a definitive answer (`settle()`): after a
 * network failure, a timeout, a 5xx, a 429 or `idempotency_key_in_flight` the outcome is unknown or
 * the request was not processed, so the retry must carry the same key and the server replays the
 * first result instead of buying again. A changed request is a new attempt with a new key (the server
 * would refuse a reused key with a different body). The pending attempt is kept in sessionStorage,
 * so a reload of the page does not lose it either.
 */
export class PurchaseAttempts {
  /**
   * @param {{ newKey?: () => string, storage?: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null }} [options]
   */
  constructor({ newKey = newIdempotencyKey, storage = null } = {}) {
    this.newKey = newKey;
    this.storage = storage;
    /** @type {{ fingerprint: string, key: string } | null} */
    this.pending = null;
    try {
      const saved = storage?.getItem(PENDING_ATTEMPT_KEY);
      if (saved) {
        const parsed = JSON.parse(saved);
        if (typeof parsed?.fingerprint === 'string' && typeof parsed?.key === 'string') this.pending = parsed;
      }
    } catch {
      this.pending = null;
    }
  }

  /**
   * @param {OrderRequest} request
   * @returns {string}
   */
  static fingerprint(request) {
    return JSON.stringify([request.productId, request.quantity, request.email]);
  }

  /**
   * The key to send for `request`: the pending attempt's key when it is the same request, else a new one.
   * @param {OrderRequest} request
   * @returns {string}
   */
  keyFor(request) {
    const fingerprint = PurchaseAttempts.fingerprint(request);
    if (this.pending?.fingerprint !== fingerprint) {
      this.pending = { fingerprint, key: this.newKey() };
      this.save();
    }
    return this.pending.key;
  }

  /**
   * True while `request` is an attempt whose outcome is still open (the button offers a retry).
   * @param {OrderRequest} request
   */
  isPending(request) {
    return this.pending?.fingerprint === PurchaseAttempts.fingerprint(request);
  }

  /** The server answered definitively: the next purchase is a new attempt with a new key. */
  settle() {
    this.pending = null;
    this.save();
  }

  /** @private */
  save() {
    try {
      if (this.pending) this.storage?.setItem(PENDING_ATTEMPT_KEY, JSON.stringify(this.pending));
      else this.storage?.removeItem(PENDING_ATTEMPT_KEY);
    } catch {
      // Storage may be full or disabled; the attempt still lives in memory.
    }
  }
}

/**
 * Whether an answer to `POST /orders` leaves the attempt open, so a retry must reuse its key:
 * no answer at all, a 5xx, a rate limit (refused before processing) or a request still in flight.
 * @param {ApiResult} result
 * @returns {boolean}
 */
export function isRetryable(result) {
  if (result.kind === 'network') return true;
  if (result.kind === 'ok') return false;
  return result.status >= 500 || result.status === 429 || result.problem.code === 'idempotency_key_in_flight';
}

/**
 * Seconds to wait according to a `Retry-After` header (delta-seconds or an HTTP date), or null.
 * @param {string | null | undefined} value
 * @param {number} [now] epoch milliseconds
 * @returns {number | null}
 */
export function retryAfterSeconds(value, now = Date.now()) {
  if (!value) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const when = Date.parse(text);
  if (Number.isNaN(when)) return null;
  return Math.max(0, Math.ceil((when - now) / 1000));
}

/**
 * A pragmatic e-mail check (the server has the final word): a single at sign, no spaces, a dotted domain.
 * @param {string} value already trimmed
 * @returns {boolean}
 */
export function isValidEmail(value) {
  if (value.length < 3 || value.length > 254) return false;
  return /^[^\s@]{1,64}@(?:[^\s@.]+\.)+[^\s@.]{2,}$/.test(value);
}

/**
 * The quantity typed by the buyer when it is a whole number from 1 to `max`, else null.
 * @param {string} raw
 * @param {number} max
 * @returns {number | null}
 */
export function parseQuantity(raw, max) {
  const text = raw.trim();
  if (!/^\d{1,6}$/.test(text)) return null;
  const value = Number(text);
  return value >= 1 && value <= max ? value : null;
}

/**
 * Reads the route from a URL fragment.
 * @param {string} hash `location.hash`, with or without the leading `#`
 * @returns {Route}
 */
export function parseRoute(hash) {
  const raw = hash.startsWith('#') ? hash.slice(1) : hash;
  const queryAt = raw.indexOf('?');
  const path = queryAt < 0 ? raw : raw.slice(0, queryAt);
  const query = queryAt < 0 ? '' : raw.slice(queryAt + 1);
  const match = /^\/order\/([^/]+)\/?$/.exec(path);
  if (!match?.[1]) return { view: 'shop' };
  try {
    const id = decodeURIComponent(match[1]);
    const token = new URLSearchParams(query).get('token');
    return { view: 'order', id, token: token || null };
  } catch {
    return { view: 'shop' };
  }
}

/**
 * The fragment of an order's page. The token stays in the fragment: browsers never send it.
 * @param {string} id
 * @param {string} token
 * @returns {string}
 */
export function orderHash(id, token) {
  return `#/order/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}`;
}

/**
 * Calls the shop API. Never throws: the result says whether an answer came and what it was.
 * @param {string} path
 * @param {{ method?: string, headers?: Record<string, string>, body?: unknown, timeoutMs?: number, fetchImpl?: typeof fetch }} [options]
 * @returns {Promise<ApiResult>}
 */
export async function apiRequest(path, options = {}) {
  const { method = 'GET', body, timeoutMs = REQUEST_TIMEOUT_MS, fetchImpl = fetch } = options;
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json, application/problem+json', ...options.headers };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetchImpl(path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
      signal: controller.signal,
    });
    const text = await response.text();
    /** @type {any} */
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (response.ok) {
      // A success without a readable body (a proxy page, a cut-off answer) tells us nothing.
      if (data === null || typeof data !== 'object') return { kind: 'network', error: new Error('unreadable answer') };
      return { kind: 'ok', status: response.status, data, headers: response.headers };
    }
    /** @type {Problem} */
    const problem = data !== null && typeof data === 'object' ? data : { title: response.statusText, status: response.status };
    return { kind: 'problem', status: response.status, problem, headers: response.headers };
  } catch (error) {
    return { kind: 'network', error };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The buyer-facing text of a problem: its detail, else its title, else a generic line.
 * @param {Problem} problem
 * @param {number} status
 * @returns {string}
 */
function problemText(problem, status) {
  const text = (typeof problem.detail === 'string' && problem.detail) || (typeof problem.title === 'string' && problem.title);
  return text || t('error.generic', { status });
}

// ---------------------------------------------------------------- storage

/** @returns {Storage | null} */
function local() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** @returns {Storage | null} */
function session() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/**
 * Keeps an order's access token under its id, so the buyer can come back, and remembers the order.
 * @param {string} id
 * @param {string} token
 */
function saveOrderToken(id, token) {
  try {
    const store = local();
    if (!store) return;
    store.setItem(ORDER_TOKEN_PREFIX + id, token);
    const recent = recentOrderIds().filter((other) => other !== id);
    recent.unshift(id);
    store.setItem(RECENT_ORDERS_KEY, JSON.stringify(recent.slice(0, RECENT_ORDERS_MAX)));
  } catch {
    // Storage full or disabled: the link in the address bar still works.
  }
}

/**
 * @param {string} id
 * @returns {string | null}
 */
function loadOrderToken(id) {
  try {
    return local()?.getItem(ORDER_TOKEN_PREFIX + id) ?? null;
  } catch {
    return null;
  }
}

/** @returns {string[]} the ids of the orders remembered in this browser, newest first */
function recentOrderIds() {
  try {
    const parsed = JSON.parse(local()?.getItem(RECENT_ORDERS_KEY) ?? '[]');
    return Array.isArray(parsed) ? parsed.filter((id) => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------- DOM helpers

/**
 * The element with `id`, checked to be of `type`.
 * @template {typeof HTMLElement} C
 * @param {string} id
 * @param {C} type
 * @returns {InstanceType<C>}
 */
function byId(id, type) {
  const node = document.getElementById(id);
  if (!(node instanceof type)) throw new Error(`the page has no ${type.name} #${id}`);
  return /** @type {InstanceType<C>} */ (node);
}

/**
 * Creates an element with a class and text.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Sets text only when it changes, so live regions do not announce the same words again.
 * @param {HTMLElement} node
 * @param {string} text
 */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/**
 * Shows a notice (or hides it when `notice` is null) in a notice element.
 * @param {HTMLElement} node
 * @param {Notice | { kind: NoticeKind, text: string } | null} notice
 */
function showNotice(node, notice) {
  if (!notice) {
    node.hidden = true;
    setText(node, '');
    return;
  }
  node.className = `notice notice--${notice.kind}`;
  setText(node, 'text' in notice ? notice.text : t(notice.key, notice.params));
  node.hidden = false;
}

/** Looks up every element the page script drives. */
function collectDom() {
  return {
    shopView: byId('shop-view', HTMLElement),
    shopHeading: byId('shop-heading', HTMLElement),
    form: byId('buy-form', HTMLFormElement),
    productList: byId('product-list', HTMLElement),
    productsStatus: byId('products-status', HTMLElement),
    email: byId('email', HTMLInputElement),
    emailError: byId('email-error', HTMLElement),
    quantity: byId('quantity', HTMLInputElement),
    quantityHint: byId('quantity-hint', HTMLElement),
    quantityError: byId('quantity-error', HTMLElement),
    qtyMinus: byId('qty-minus', HTMLButtonElement),
    qtyPlus: byId('qty-plus', HTMLButtonElement),
    summaryProduct: byId('summary-product', HTMLElement),
    summaryTotal: byId('summary-total', HTMLElement),
    buyButton: byId('buy-button', HTMLButtonElement),
    buyButtonLabel: byId('buy-button-label', HTMLElement),
    buyMessage: byId('buy-message', HTMLElement),
    recent: byId('recent-orders', HTMLElement),
    recentList: byId('recent-list', HTMLElement),

    orderView: byId('order-view', HTMLElement),
    orderHeading: byId('order-heading', HTMLElement),
    orderBadge: byId('order-badge', HTMLElement),
    orderStatus: byId('order-status', HTMLElement),
    orderCountdown: byId('order-countdown', HTMLElement),
    orderPayHint: byId('order-pay-hint', HTMLElement),
    orderNotice: byId('order-notice', HTMLElement),
    orderDetails: byId('order-details', HTMLElement),
    orderId: byId('order-id', HTMLElement),
    orderProduct: byId('order-product', HTMLElement),
    orderQuantity: byId('order-quantity', HTMLElement),
    orderAmount: byId('order-amount', HTMLElement),
    orderEmail: byId('order-email', HTMLElement),
    orderCreated: byId('order-created', HTMLElement),
    orderCodes: byId('order-codes', HTMLElement),
    codeList: byId('code-list', HTMLElement),
    copyStatus: byId('copy-status', HTMLElement),
    orderBookmark: byId('order-bookmark', HTMLElement),
    orderPay: byId('order-pay', HTMLElement),
  };
}

/** @type {ReturnType<typeof collectDom>} */
let dom;
/** @type {PayPanel} */
let pay;

// ---------------------------------------------------------------- language

/**
 * Applies the current language to the static page: `<html lang>`, the title, every `data-i18n`
 * text and `data-i18n-aria-label` label, and the switcher's pressed state.
 */
function translateStaticPage() {
  const lang = getLang();
  document.documentElement.lang = lang;
  document.title = t('app.title');
  for (const node of document.querySelectorAll('[data-i18n]')) {
    const key = node.getAttribute('data-i18n');
    if (key) node.textContent = t(key);
  }
  for (const node of document.querySelectorAll('[data-i18n-aria-label]')) {
    const key = node.getAttribute('data-i18n-aria-label');
    if (key) node.setAttribute('aria-label', t(key));
  }
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.setAttribute('aria-pressed', String(button.getAttribute('data-lang') === lang));
  }
}

/**
 * Switches the language, remembers the choice, keeps `?lang=` in the address in step, and redraws.
 * @param {Lang} lang
 */
function changeLanguage(lang) {
  setLang(lang);
  try {
    local()?.setItem(LANG_STORAGE_KEY, lang);
  } catch {
    // Not remembered; the page still switches.
  }
  const url = new URL(window.location.href);
  if (url.searchParams.has('lang')) {
    url.searchParams.set('lang', lang);
    history.replaceState(history.state, '', url);
  }
  translateStaticPage();
  renderShop();
  renderOrder();
}

function initLanguage() {
  /** @type {string | null} */
  let stored = null;
  try {
    stored = local()?.getItem(LANG_STORAGE_KEY) ?? null;
  } catch {
    stored = null;
  }
  const query = new URLSearchParams(window.location.search).get('lang');
  setLang(pickLanguage({ query, stored, browser: navigator.language }));
  for (const button of document.querySelectorAll('[data-lang]')) {
    button.addEventListener('click', () => {
      const lang = normalizeLang(button.getAttribute('data-lang'));
      if (lang && LANGUAGES.includes(lang) && lang !== getLang()) changeLanguage(lang);
    });
  }
  translateStaticPage();
}

// ---------------------------------------------------------------- shop: products

const shop = {
  /** @type {Product[]} */
  products: [],
  loaded: false,
  loadFailed: false,
  loading: false,
  /** @type {string | null} */
  selectedId: null,
  /** Whether the buyer (or the first load) has made a choice; later refreshes never pick for them. */
  choiceMade: false,
  buying: false,
  /** @type {Notice | { kind: NoticeKind, text: string } | null} */
  message: null,
  /** Epoch ms until which a rate limit holds the Buy button. */
  waitUntil: 0,
  /** @type {number | undefined} */
  waitTimer: undefined,
  attempts: /** @type {PurchaseAttempts | null} */ (null),
};

/** @returns {Product | null} the selected product, if it is on sale */
function selectedProduct() {
  return shop.products.find((product) => product.id === shop.selectedId) ?? null;
}

/** Loads the products on sale (stock included) and redraws. Overlapping calls are skipped. */
async function loadProducts() {
  if (shop.loading) return;
  shop.loading = true;
  const result = await apiRequest(`${API}/products`);
  shop.loading = false;
  if (result.kind === 'ok' && Array.isArray(result.data.products)) {
    shop.products = result.data.products;
    shop.loaded = true;
    shop.loadFailed = false;
  } else {
    shop.loadFailed = true;
  }
  renderShop();
  renderOrder();
}

/**
 * @param {Product} product
 * @returns {HTMLLabelElement}
 */
function createProductCard(product) {
  const card = h('label', 'product');
  card.dataset['id'] = product.id;
  const radio = h('input', 'product__radio');
  radio.type = 'radio';
  radio.name = 'product';
  radio.value = product.id;
  radio.addEventListener('change', () => {
    if (!radio.checked) return;
    shop.selectedId = product.id;
    shop.choiceMade = true;
    clearFieldError(dom.quantity, dom.quantityError);
    const stale = shop.message && 'key' in shop.message ? shop.message.key : '';
    if (stale === 'buy.productRequired' || stale === 'buy.soldOut' || stale === 'buy.productGone') shop.message = null;
    renderShop();
  });
  const body = h('span', 'product__body');
  const check = h('span', 'product__check');
  check.setAttribute('aria-hidden', 'true');
  const meta = h('span', 'product__meta');
  meta.append(h('span', 'product__price'), h('span', 'product__stock'));
  body.append(check, h('span', 'product__name'), meta);
  card.append(radio, body);
  return card;
}

/**
 * @param {HTMLElement} card
 * @param {Product} product
 */
function updateProductCard(card, product) {
  const available = product.stock.available;
  const soldOut = available <= 0;
  const radio = /** @type {HTMLInputElement} */ (card.querySelector('.product__radio'));
  card.classList.toggle('product--soldout', soldOut);
  radio.disabled = soldOut;
  radio.checked = product.id === shop.selectedId;
  setText(/** @type {HTMLElement} */ (card.querySelector('.product__name')), product.name);
  setText(
    /** @type {HTMLElement} */ (card.querySelector('.product__price')),
    formatMoney(product.price.amount, product.price.currency),
  );
  const stock = /** @type {HTMLElement} */ (card.querySelector('.product__stock'));
  setText(stock, soldOut ? t('shop.soldOut') : t('shop.inStock', { count: available }));
  stock.classList.toggle('product__stock--out', soldOut);
  stock.classList.toggle('product__stock--low', !soldOut && available <= 3);
}

/** Redraws the product cards in place (keyed by id), so focus and selection survive a refresh. */
function renderProductList() {
  const list = dom.productList;
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of list.children) {
    if (child instanceof HTMLElement && child.dataset['id']) existing.set(child.dataset['id'], child);
  }
  /** @type {Element | null} */
  let previous = null;
  for (const product of shop.products) {
    const card = existing.get(product.id) ?? createProductCard(product);
    existing.delete(product.id);
    updateProductCard(card, product);
    /** @type {Element | null} */
    const expected = previous ? previous.nextElementSibling : list.firstElementChild;
    if (expected !== card) list.insertBefore(card, expected);
    previous = card;
  }
  for (const stale of existing.values()) stale.remove();
}

/** Keeps the selection valid: a product that sold out or left the shop is no longer selected. */
function reconcileSelection() {
  const current = selectedProduct();
  if (current && current.stock.available > 0) return;
  shop.selectedId = null;
  if (!shop.choiceMade) {
    // First load: preselect the first product in stock. Later refreshes never choose for the buyer.
    const first = shop.products.find((product) => product.stock.available > 0);
    if (first) {
      shop.selectedId = first.id;
      shop.choiceMade = true;
    }
  }
}

// ---------------------------------------------------------------- shop: purchase form

/** @returns {number} the most the buyer may order of the selected product (at least 1) */
function maxQuantity() {
  return Math.max(1, selectedProduct()?.stock.available ?? 1);
}

/**
 * @param {HTMLInputElement} input
 * @param {HTMLElement} error
 * @param {string} text
 */
function setFieldError(input, error, text) {
  input.setAttribute('aria-invalid', 'true');
  setText(error, text);
  error.hidden = false;
}

/**
 * @param {HTMLInputElement} input
 * @param {HTMLElement} error
 */
function clearFieldError(input, error) {
  input.removeAttribute('aria-invalid');
  error.hidden = true;
  setText(error, '');
}

/** @returns {OrderRequest | null} the request the form describes, when it is complete */
function currentRequest() {
  const product = selectedProduct();
  const quantity = parseQuantity(dom.quantity.value, maxQuantity());
  const email = dom.email.value.trim();
  if (!product || quantity === null || !isValidEmail(email)) return null;
  return { productId: product.id, quantity, email };
}

/** Redraws the form around the selection: quantity bounds, summary, button. */
function renderPurchaseForm() {
  const product = selectedProduct();
  const max = maxQuantity();
  dom.quantity.max = String(max);
  const typed = Number(dom.quantity.value);
  if (Number.isInteger(typed) && typed > max) dom.quantity.value = String(max);
  const quantity = parseQuantity(dom.quantity.value, max);
  dom.qtyMinus.disabled = !product || quantity === null || quantity <= 1;
  dom.qtyPlus.disabled = !product || quantity === null || quantity >= max;
  dom.quantity.disabled = !product;
  setText(dom.quantityHint, product ? t('buy.quantityHint', { max }) : '');
  setText(dom.summaryProduct, product ? product.name : t('buy.noneSelected'));
  dom.summaryProduct.classList.toggle('summary__empty', !product);
  setText(
    dom.summaryTotal,
    product && quantity !== null ? formatMoney(product.price.amount * quantity, product.price.currency) : '–',
  );
  renderBuyButton();
}

function renderBuyButton() {
  const waitSeconds = Math.ceil((shop.waitUntil - Date.now()) / 1000);
  const request = currentRequest();
  const retry = request !== null && shop.attempts !== null && shop.attempts.isPending(request);
  let label = retry ? t('buy.retry') : t('buy.submit');
  if (shop.buying) label = t('buy.submitting');
  else if (waitSeconds > 0) label = t('buy.wait', { seconds: waitSeconds });
  setText(dom.buyButtonLabel, label);
  dom.buyButton.disabled = shop.buying || waitSeconds > 0;
  dom.buyButton.classList.toggle('is-busy', shop.buying);
  dom.form.setAttribute('aria-busy', String(shop.buying));
}

/** What the recent-orders list shows now; it is redrawn only when this changes (focus survives). */
let drawnRecentOrders = '';

function renderRecentOrders() {
  const links = recentOrderIds()
    .map((id) => ({ id, token: loadOrderToken(id) }))
    .filter((entry) => entry.token !== null);
  const drawn = `${getLang()}|${links.map((entry) => `${entry.id}=${entry.token}`).join('|')}`;
  if (drawn === drawnRecentOrders) return;
  drawnRecentOrders = drawn;
  dom.recent.hidden = links.length === 0;
  dom.recentList.replaceChildren(
    ...links.map(({ id, token }) => {
      const item = h('li');
      const link = h('a', 'recent__link', t('recent.open', { id }));
      link.href = orderHash(id, /** @type {string} */ (token));
      item.append(link);
      return item;
    }),
  );
}

/** Redraws the whole shop view from `shop`. */
function renderShop() {
  if (!dom) return;
  reconcileSelection();
  renderProductList();
  if (!shop.loaded) setText(dom.productsStatus, shop.loadFailed ? t('shop.loadError') : t('shop.loading'));
  else if (shop.loadFailed) setText(dom.productsStatus, t('shop.loadError'));
  else if (shop.products.length === 0) setText(dom.productsStatus, t('shop.empty'));
  else setText(dom.productsStatus, '');
  dom.productsStatus.hidden = dom.productsStatus.textContent === '';
  dom.productsStatus.classList.toggle('products__status--error', shop.loadFailed);
  renderPurchaseForm();
  showNotice(dom.buyMessage, shop.message);
  renderRecentOrders();
}

/**
 * Checks the form, marking each bad field; focuses the first one.
 * @returns {OrderRequest | null}
 */
function validateForm() {
  const product = selectedProduct();
  const max = maxQuantity();
  /** @type {HTMLElement | null} */
  let firstBad = null;

  const email = dom.email.value.trim();
  if (email === '') setFieldError(dom.email, dom.emailError, t('buy.emailRequired'));
  else if (!isValidEmail(email)) setFieldError(dom.email, dom.emailError, t('buy.emailInvalid'));
  else clearFieldError(dom.email, dom.emailError);
  if (dom.email.hasAttribute('aria-invalid')) firstBad = dom.email;

  const quantity = parseQuantity(dom.quantity.value, max);
  if (product && quantity === null) {
    setFieldError(dom.quantity, dom.quantityError, t('buy.quantityInvalid', { max }));
    firstBad ??= dom.quantity;
  } else {
    clearFieldError(dom.quantity, dom.quantityError);
  }

  if (!product || product.stock.available <= 0) {
    shop.message = { kind: 'error', key: 'buy.productRequired' };
    showNotice(dom.buyMessage, shop.message);
    firstBad ??= /** @type {HTMLElement | null} */ (dom.productList.querySelector('.product__radio:not(:disabled)'));
  }
  if (firstBad) {
    firstBad.focus();
    return null;
  }
  return product && quantity !== null ? { productId: product.id, quantity, email } : null;
}

/**
 * Holds the Buy button for `seconds` after a 429, counting down on the button.
 * @param {number} seconds
 */
function waitBeforeRetry(seconds) {
  shop.waitUntil = Date.now() + seconds * 1000;
  window.clearInterval(shop.waitTimer);
  shop.waitTimer = window.setInterval(() => {
    if (Date.now() >= shop.waitUntil) {
      window.clearInterval(shop.waitTimer);
      shop.waitUntil = 0;
      if (shop.message && 'key' in shop.message && shop.message.key === 'buy.rateLimited') shop.message = null;
      renderShop();
    } else {
      renderBuyButton();
    }
  }, 250);
  renderBuyButton();
}

/**
 * Places the order. One attempt, one Idempotency-Key: a retry of the same request reuses it.
 * @param {OrderRequest} request
 */
async function placeOrder(request) {
  const attempts = /** @type {PurchaseAttempts} */ (shop.attempts);
  const key = attempts.keyFor(request);
  shop.buying = true;
  shop.message = null;
  renderShop();

  const result = await apiRequest(`${API}/orders`, { method: 'POST', headers: { 'Idempotency-Key': key }, body: request });

  shop.buying = false;
  if (!isRetryable(result)) attempts.settle();

  if (result.kind === 'ok') {
    /** @type {Order} */
    const order = result.data.order;
    if (order.accessToken) saveOrderToken(order.id, order.accessToken);
    createdOrders.set(order.id, order);
    shop.message = null;
    dom.quantity.value = '1';
    renderShop();
    void loadProducts();
    window.location.hash = orderHash(order.id, order.accessToken ?? '');
    return;
  }

  if (result.kind === 'network') {
    shop.message = { kind: 'warning', key: 'buy.networkError' };
  } else {
    const { problem, status } = result;
    switch (problem.code) {
      case 'sold_out':
        shop.message = { kind: 'error', key: 'buy.soldOut' };
        void loadProducts();
        break;
      case 'rate_limited': {
        const seconds = retryAfterSeconds(result.headers.get('Retry-After'));
        shop.message =
          seconds === null
            ? { kind: 'warning', key: 'buy.rateLimitedLater' }
            : { kind: 'warning', key: 'buy.rateLimited', params: { seconds } };
        if (seconds !== null) waitBeforeRetry(seconds);
        break;
      }
      case 'idempotency_key_in_flight':
        shop.message = { kind: 'warning', key: 'buy.inFlight' };
        break;
      case 'product_not_found':
        shop.message = { kind: 'error', key: 'buy.productGone' };
        void loadProducts();
        break;
      case 'busy':
        shop.message = { kind: 'warning', key: 'buy.busy' };
        break;
      case 'purchase_limit':
        shop.message = { kind: 'error', key: 'buy.purchaseLimit' };
        break;
      default:
        shop.message = { kind: 'error', key: 'buy.failed', params: { reason: problemText(problem, status) } };
    }
  }
  renderShop();
  // Disabling the focused button may have dropped focus to <body>: put it back for keyboard users.
  if (document.activeElement === document.body || document.activeElement === null) dom.buyButton.focus();
}

function initShop() {
  shop.attempts = new PurchaseAttempts({ storage: session() });

  dom.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (shop.buying || Date.now() < shop.waitUntil) return;
    const request = validateForm();
    if (request) void placeOrder(request);
  });
  dom.email.addEventListener('input', () => {
    if (dom.email.hasAttribute('aria-invalid') && isValidEmail(dom.email.value.trim()))
      clearFieldError(dom.email, dom.emailError);
    renderBuyButton();
  });
  dom.email.addEventListener('blur', () => {
    const email = dom.email.value.trim();
    if (email !== '' && !isValidEmail(email)) setFieldError(dom.email, dom.emailError, t('buy.emailInvalid'));
  });
  dom.quantity.addEventListener('input', () => {
    if (parseQuantity(dom.quantity.value, maxQuantity()) !== null) clearFieldError(dom.quantity, dom.quantityError);
    renderPurchaseForm();
  });
  /** @param {number} delta */
  const step = (delta) => {
    const current = parseQuantity(dom.quantity.value, maxQuantity()) ?? 1;
    dom.quantity.value = String(Math.min(maxQuantity(), Math.max(1, current + delta)));
    clearFieldError(dom.quantity, dom.quantityError);
    renderPurchaseForm();
  };
  dom.qtyMinus.addEventListener('click', () => step(-1));
  dom.qtyPlus.addEventListener('click', () => step(1));

  window.setInterval(() => {
    if (!document.hidden && !dom.shopView.hidden) void loadProducts();
  }, PRODUCTS_REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !dom.shopView.hidden) void loadProducts();
  });
}

// ---------------------------------------------------------------- order view

/** Orders created in this page, shown at once while the first lookup is on its way. */
const createdOrders = /** @type {Map<string, Order>} */ (new Map());

const orderView = {
  /** Bumped on every route change; answers for an older view are dropped. */
  generation: 0,
  active: false,
  id: '',
  /** @type {string | null} */
  token: null,
  /** @type {Order | null} */
  order: null,
  notFound: false,
  /** @type {Notice | { kind: NoticeKind, text: string } | null} */
  notice: null,
  /** @type {number | undefined} */
  pollTimer: undefined,
  /** @type {number | undefined} */
  tickTimer: undefined,
  /** Codes currently drawn, to redraw the list only when they change. */
  drawnCodes: '',
};

/**
 * @param {OrderStatus} status
 * @returns {string} the status in a word or two
 */
function statusLabel(status) {
  switch (status) {
    case 'reserved':
      return t('status.reserved');
    case 'paid':
      return t('status.paid');
    case 'delivered':
      return t('status.delivered');
    case 'expired':
      return t('status.expired');
    case 'refunded':
      return t('status.refunded');
    case 'needs_review':
      return t('status.needs_review');
    default:
      return String(status);
  }
}

/**
 * @param {Order} order
 * @returns {string} the status as a sentence
 */
function statusSentence(order) {
  switch (order.status) {
    case 'reserved':
      return t('status.reserved.detail', { time: formatDateTime(new Date(order.expiresAt)) });
    case 'paid':
      return t('status.paid.detail');
    case 'delivered':
      return t('status.delivered.detail');
    case 'expired':
      return t('status.expired.detail');
    case 'refunded':
      return t('status.refunded.detail');
    case 'needs_review':
      return t('status.needs_review.detail');
    default:
      return String(order.status);
  }
}

function stopOrderTimers() {
  window.clearTimeout(orderView.pollTimer);
  window.clearInterval(orderView.tickTimer);
  orderView.pollTimer = undefined;
  orderView.tickTimer = undefined;
}

/**
 * Opens an order: shows what is known at once, then polls until the order is final.
 * @param {string} id
 * @param {string | null} tokenFromUrl
 */
function openOrder(id, tokenFromUrl) {
  stopOrderTimers();
  const generation = ++orderView.generation;
  if (tokenFromUrl) saveOrderToken(id, tokenFromUrl);
  orderView.active = true;
  orderView.id = id;
  orderView.token = tokenFromUrl ?? loadOrderToken(id);
  orderView.order = createdOrders.get(id) ?? null;
  orderView.notFound = false;
  orderView.notice = orderView.token ? null : { kind: 'error', key: 'order.noToken' };
  dom.codeList.replaceChildren();
  orderView.drawnCodes = '';
  setText(dom.copyStatus, '');
  pay.open(id, orderView.token);
  if (!shop.loaded) void loadProducts();
  renderOrder();
  if (orderView.token) void pollOrder(generation);
  orderView.tickTimer = window.setInterval(renderCountdown, 1000);
}

function closeOrder() {
  stopOrderTimers();
  orderView.generation++;
  orderView.active = false;
  pay?.close();
}

/**
 * A newer state of the open order than the last lookup (the answer to "I have paid").
 * @param {Order} order
 */
function orderArrived(order) {
  if (!orderView.active || order.id !== orderView.id) return;
  orderView.order = order;
  orderView.notice = null;
  renderOrder();
}

/**
 * Looks the order up once and schedules the next lookup unless the order is final or unknown.
 * @param {number} generation
 */
async function pollOrder(generation) {
  const token = /** @type {string} */ (orderView.token);
  const result = await apiRequest(`${API}/orders/${encodeURIComponent(orderView.id)}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  if (generation !== orderView.generation) return;

  let delay = pay.active ? CHECKOUT_POLL_MS : ORDER_POLL_MS;
  let again = true;
  if (result.kind === 'ok' && result.data.order) {
    orderView.order = result.data.order;
    orderView.notice = null;
    again = !FINAL_STATUSES.includes(/** @type {Order} */ (orderView.order).status);
  } else if (result.kind === 'network') {
    orderView.notice = { kind: 'warning', key: 'order.connectionLost' };
  } else if (result.kind === 'problem' && (result.status === 404 || result.problem.code === 'order_not_found')) {
    orderView.notFound = true;
    orderView.order = null;
    orderView.notice = null;
    again = false;
  } else if (result.kind === 'problem' && result.status === 429) {
    const seconds = retryAfterSeconds(result.headers.get('Retry-After')) ?? 10;
    delay = Math.max(ORDER_POLL_MS, seconds * 1000);
    orderView.notice = { kind: 'warning', key: 'order.rateLimited', params: { seconds } };
  } else if (result.kind === 'problem') {
    orderView.notice = { kind: 'error', key: 'order.error', params: { reason: problemText(result.problem, result.status) } };
  }
  renderOrder();
  if (again) orderView.pollTimer = window.setTimeout(() => void pollOrder(generation), delay);
}

/** Updates the countdown to `expiresAt` while the order is reserved. */
function renderCountdown() {
  const order = orderView.order;
  const show = orderView.active && order !== null && order.status === 'reserved';
  dom.orderCountdown.hidden = !show;
  dom.orderPayHint.hidden = !show || !pay.offersNone;
  if (!show || !order) return;
  const left = Date.parse(order.expiresAt) - Date.now();
  dom.orderCountdown.classList.toggle('countdown--urgent', left < 60_000);
  setText(dom.orderCountdown, left > 0 ? t('order.timeLeft', { time: formatDuration(left) }) : t('order.timeUp'));
}

/**
 * Copies one code: the async clipboard when it is there (secure contexts), else the old way; when
 * both fail the code is left selected for the buyer to copy by hand.
 * @param {string} code
 * @param {number} index 1-based
 * @param {HTMLButtonElement} button
 * @param {HTMLElement} codeBox
 */
async function copyCode(code, index, button, codeBox) {
  let copied = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(code);
      copied = true;
    }
  } catch {
    copied = false;
  }
  const selection = window.getSelection();
  if (!copied && selection) {
    const range = document.createRange();
    range.selectNodeContents(codeBox);
    selection.removeAllRanges();
    selection.addRange(range);
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    if (copied) selection.removeAllRanges();
  }
  const label = /** @type {HTMLElement} */ (button.querySelector('.copy__label'));
  if (copied) {
    setText(label, t('order.copied'));
    button.classList.add('is-copied');
    dom.copyStatus.textContent = t('order.copiedAnnounce', { index });
    window.setTimeout(() => {
      setText(label, t('order.copy'));
      button.classList.remove('is-copied');
    }, 2000);
  } else {
    dom.copyStatus.textContent = t('order.copyFailed');
  }
}

/** @param {string[]} codes */
function renderCodes(codes) {
  const key = `${getLang()}\n${codes.join('\n')}`;
  if (key === orderView.drawnCodes) return;
  orderView.drawnCodes = key;
  dom.codeList.replaceChildren(
    ...codes.map((code, i) => {
      const item = h('li', 'code');
      const box = h('code', 'code__value', code);
      const button = h('button', 'button button--secondary code__copy');
      button.type = 'button';
      button.setAttribute('aria-label', t('order.copyLabel', { index: i + 1 }));
      button.append(h('span', 'copy__label', t('order.copy')));
      button.addEventListener('click', () => void copyCode(code, i + 1, button, box));
      item.append(box, button);
      return item;
    }),
  );
}

/** Redraws the order view from `orderView`. */
function renderOrder() {
  if (!dom || !orderView.active) return;
  const order = orderView.order;

  if (orderView.notFound) {
    setText(dom.orderStatus, t('order.notFound'));
    dom.orderStatus.className = 'order__status order__status--error';
  } else if (!order) {
    setText(dom.orderStatus, orderView.token ? t('order.loading') : '');
    dom.orderStatus.className = 'order__status';
  } else {
    setText(dom.orderStatus, statusSentence(order));
    dom.orderStatus.className = `order__status order__status--${order.status}`;
  }
  showNotice(dom.orderNotice, orderView.notice);

  dom.orderBadge.hidden = !order;
  dom.orderDetails.hidden = !order;
  dom.orderBookmark.hidden = !order;
  if (order) {
    setText(dom.orderBadge, statusLabel(order.status));
    dom.orderBadge.className = `badge badge--${order.status}`;
    const product = shop.products.find((p) => p.id === order.productId);
    setText(dom.orderId, order.id);
    setText(dom.orderProduct, product?.name ?? order.productId);
    setText(dom.orderQuantity, String(order.quantity));
    setText(dom.orderAmount, formatMoney(order.amount, order.currency));
    setText(dom.orderEmail, order.email);
    setText(dom.orderCreated, order.createdAt ? formatDateTime(new Date(order.createdAt)) : '–');
  }

  const codes = order?.status === 'delivered' && Array.isArray(order.codes) ? order.codes : null;
  dom.orderCodes.hidden = codes === null;
  if (codes) renderCodes(codes);
  pay.render(order);
  renderCountdown();
}

// ---------------------------------------------------------------- router and start

/**
 * Shows the view the URL fragment names.
 * @param {{ focus: boolean }} options move focus to the new view's heading (after a navigation)
 */
function route({ focus }) {
  const target = parseRoute(window.location.hash);
  if (target.view === 'order') {
    dom.shopView.hidden = true;
    dom.orderView.hidden = false;
    openOrder(target.id, target.token);
    if (focus) dom.orderHeading.focus();
  } else {
    closeOrder();
    dom.orderView.hidden = true;
    dom.shopView.hidden = false;
    renderShop();
    void loadProducts();
    if (focus) dom.shopHeading.focus();
  }
  window.scrollTo(0, 0);
}

function start() {
  dom = collectDom();
  pay = new PayPanel(dom.orderPay, { request: apiRequest, onOrder: orderArrived });
  initLanguage();
  initShop();
  window.addEventListener('hashchange', () => route({ focus: true }));
  route({ focus: false });
}

if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
  else start();
}
