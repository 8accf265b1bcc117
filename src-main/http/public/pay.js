// @ts-check
/**
 * OnceKey buyer page: paying a reserved order through the shop's payment channels.
 *
 * The buyer picks a channel and method; the shop answers with a redirect (the browser goes to the
 * gateway and comes back to the order page) or a QR code. The QR code is drawn by the shop itself
 * (`qr.svg`, no outside QR service) and rebuilt here element by element from its paths, so nothing
 * the network returns becomes markup. "I have paid" asks the shop to query the channel at once; it is
 * rate limited on the server and held for a few seconds here after each press.
 *
 * The order view (app.js) owns the order; this panel tells it when a refresh brought a newer one and
 * whether a checkout is under way (the order is then polled faster).
 */
import { formatMoney, t } from './i18n.js';

/** How often the order is polled while a checkout is under way. */
export const CHECKOUT_POLL_MS = 2000;
/** How long "I have paid" stays disabled after each press. */
export const REFRESH_COOLDOWN_MS = 5000;

const CHECKOUT_STORAGE_PREFIX = 'oncekey.checkout.';

/** @typedef {{ name: string, methods: string[] }} Channel */
/**
 * @typedef {object} Checkout
 * @property {string} channel
 * @property {string} method
 * @property {number} amount
 * @property {string} currency
 * @property {string} [redirectUrl]
 * @property {string} [qrCode]
 * @property {string} expiresAt
 */
/** @typedef {import('./app.js').ApiResult} ApiResult */
/** @typedef {import('./app.js').Order} Order */
/** @typedef {(path: string, options?: { method?: string, headers?: Record<string, string>, body?: unknown }) => Promise<ApiResult>} Request */
/** @typedef {{ kind: 'error' | 'warning' | 'info' | 'success', text: string }} PayNotice */

/**
 * The buyer-facing name of a channel's method.
 * @param {string} channel
 * @param {string} method
 * @returns {string}
 */
export function methodLabel(channel, method) {
  switch (`${channel}/${method}`) {
    case 'epay/alipay':
      return t('pay.method.alipay');
    case 'epay/wxpay':
      return t('pay.method.wxpay');
    case 'epay/qqpay':
      return t('pay.method.qqpay');
    case 'alipay/precreate':
      return t('pay.method.alipayScan');
    case 'alipay/page':
      return t('pay.method.alipayWeb');
    case 'wechatpay/native':
      return t('pay.method.wechatScan');
    case 'stripe/card':
      return t('pay.method.card');
    default:
      return t('pay.method.other', { channel, method });
  }
}

/**
 * What to scan the QR code with.
 * @param {string} channel
 * @param {string} method
 * @returns {string}
 */
export function scanHint(channel, method) {
  if (method === 'alipay' || channel === 'alipay') return t('pay.scanAlipay');
  if (method === 'wxpay' || channel === 'wechatpay') return t('pay.scanWechat');
  if (method === 'qqpay') return t('pay.scanQq');
  return t('pay.scanOther');
}

/**
 * Rebuilds a QR code SVG from its text: the root's viewBox and its `path`/`rect` elements with their
 * geometry and colours only. Anything else (scripts, links, handlers, styles) is dropped.
 * @param {Document} document
 * @param {string} text
 * @returns {SVGSVGElement | null}
 */
export function qrSvgFrom(document, text) {
  const parsed = new DOMParser().parseFromString(text, 'image/svg+xml');
  const source = parsed.documentElement;
  if (!(source instanceof SVGSVGElement) || parsed.getElementsByTagName('parsererror').length > 0) return null;
  const viewBox = source.getAttribute('viewBox');
  const ns = source.namespaceURI;
  if (!viewBox || !/^[\d.\s]+$/.test(viewBox) || !ns) return null;
  const svg = /** @type {SVGSVGElement} */ (document.createElementNS(ns, 'svg'));
  svg.setAttribute('viewBox', viewBox);
  svg.setAttribute('shape-rendering', 'crispEdges');
  const allowed = /** @type {Record<string, readonly string[]>} */ ({
    path: ['d', 'fill', 'stroke'],
    rect: ['x', 'y', 'width', 'height', 'fill'],
  });
  for (const node of source.querySelectorAll('path, rect')) {
    const copy = document.createElementNS(ns, node.localName);
    for (const name of allowed[node.localName] ?? []) {
      const value = node.getAttribute(name);
      if (value !== null && /^[\w#.\s-]*$/.test(value)) copy.setAttribute(name, value);
    }
    svg.append(copy);
  }
  return svg.childElementCount > 0 ? svg : null;
}

/**
 * The buyer-facing text of a failed checkout or refresh.
 * @param {ApiResult} result
 * @param {string} currency
 * @returns {PayNotice}
 */
export function payProblem(result, currency) {
  if (result.kind === 'network') return { kind: 'warning', text: t('pay.networkError') };
  if (result.kind !== 'problem') return { kind: 'error', text: t('pay.failed', { reason: String(result.status) }) };
  switch (result.problem.code) {
    case 'channel_unavailable':
      return { kind: 'warning', text: t('pay.unavailable') };
    case 'channel_not_configured':
      return { kind: 'error', text: t('pay.notOffered') };
    case 'currency_not_supported':
      return { kind: 'error', text: t('pay.currency', { currency }) };
    case 'order_not_payable':
      return { kind: 'error', text: t('pay.notPayable') };
    case 'rate_limited':
      return { kind: 'warning', text: t('pay.rateLimited') };
    default:
      return {
        kind: 'error',
        text: t('pay.failed', { reason: result.problem.detail || result.problem.title || String(result.status) }),
      };
  }
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * @param {HTMLElement} root
 * @param {string} selector
 * @returns {HTMLElement}
 */
function part(root, selector) {
  const node = root.querySelector(selector);
  if (!(node instanceof HTMLElement)) throw new Error(`the payment panel has no ${selector}`);
  return node;
}

/** @returns {Storage | null} */
function session() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export class PayPanel {
  /**
   * @param {HTMLElement} root the panel (`#order-pay`)
   * @param {{ request: Request, onOrder: (order: Order) => void }} deps
   */
  constructor(root, { request, onOrder }) {
    this.root = root;
    this.request = request;
    this.onOrder = onOrder;
    this.methods = part(root, '.pay__methods');
    this.qr = part(root, '.pay__qr');
    this.qrCode = part(root, '.pay__qr-code');
    this.qrAmount = part(root, '.pay__amount');
    this.qrHint = part(root, '.pay__scan');
    this.message = part(root, '.pay__message');
    this.paid = /** @type {HTMLButtonElement} */ (part(root, '.pay__paid'));
    this.paidStatus = part(root, '.pay__paid-status');
    /** @type {Channel[] | null} null until the shop has answered */
    this.channels = null;
    this.loadingChannels = false;
    this.id = '';
    /** @type {string | null} */
    this.token = null;
    /** @type {Order | null} */
    this.order = null;
    /** @type {Checkout | null} */
    this.checkout = null;
    /** @type {SVGSVGElement | null} */
    this.svg = null;
    /** @type {string | null} the method whose checkout is being made */
    this.busy = null;
    this.refreshing = false;
    this.cooldownUntil = 0;
    /** @type {PayNotice | null} */
    this.notice = null;
    /** @type {PayNotice | null} */
    this.paidNotice = null;
    /** Redraw key of the method buttons. */
    this.drawn = '';
    this.generation = 0;
    this.paid.addEventListener('click', () => void this.refresh());
  }

  /** True while a checkout is under way for the open order: the order page polls faster. */
  get active() {
    return this.checkout !== null || this.started() !== null;
  }

  /** True when the shop offers at least one channel. */
  get offersChannels() {
    return (this.channels?.length ?? 0) > 0;
  }

  /** True once the shop has said it offers none (the page then says "pay as the shop instructs"). */
  get offersNone() {
    return this.channels !== null && this.channels.length === 0;
  }

  /**
   * A new order view.
   * @param {string} id
   * @param {string | null} token
   */
  open(id, token) {
    this.generation++;
    this.id = id;
    this.token = token;
    this.order = null;
    this.checkout = null;
    this.svg = null;
    this.busy = null;
    this.notice = null;
    this.paidNotice = null;
    this.qrCode.replaceChildren();
    if (this.channels === null) void this.loadChannels();
  }

  close() {
    this.generation++;
    this.root.hidden = true;
  }

  async loadChannels() {
    if (this.loadingChannels) return;
    this.loadingChannels = true;
    const result = await this.request('/api/v1/payment-channels');
    this.loadingChannels = false;
    if (result.kind === 'ok' && Array.isArray(result.data.channels)) {
      this.channels = result.data.channels;
      this.render(this.order);
      this.resume();
    }
  }

  /**
   * The checkout started in this tab for the open order, if any (kept across the gateway round trip).
   * @returns {{ channel: string, method: string, qr: boolean } | null}
   */
  started() {
    try {
      const saved = JSON.parse(session()?.getItem(CHECKOUT_STORAGE_PREFIX + this.id) ?? 'null');
      return saved && typeof saved.channel === 'string' && typeof saved.method === 'string' ? saved : null;
    } catch {
      return null;
    }
  }

  /** Back on the page with a QR checkout started earlier: draw it again (the shop returns the same one). */
  resume() {
    const saved = this.started();
    if (saved?.qr && this.checkout === null && this.busy === null && this.order?.status === 'reserved') {
      void this.choose(saved.channel, saved.method);
    }
  }

  /**
   * @param {string} channel
   * @param {string} method
   */
  async choose(channel, method) {
    if (!this.token || this.busy) return;
    const generation = this.generation;
    this.busy = `${channel}/${method}`;
    this.notice = null;
    this.render(this.order);
    const auth = { Authorization: `Bearer ${this.token}` };
    const result = await this.request(`/api/v1/orders/${encodeURIComponent(this.id)}/checkout`, {
      method: 'POST',
      headers: auth,
      body: { channel, method },
    });
    if (generation !== this.generation) return;
    if (result.kind !== 'ok' || !result.data.checkout) {
      this.busy = null;
      this.notice = payProblem(result, this.order?.currency ?? '');
      if (result.kind === 'problem' && result.problem.code === 'channel_not_configured') {
        this.channels = null;
        void this.loadChannels();
      }
      this.render(this.order);
      return;
    }
    /** @type {Checkout} */
    const checkout = result.data.checkout;
    try {
      session()?.setItem(
        CHECKOUT_STORAGE_PREFIX + this.id,
        JSON.stringify({ channel, method: checkout.method, qr: Boolean(checkout.qrCode) }),
      );
    } catch {
      // Not remembered: the order page still polls and the buyer can press "I have paid".
    }
    if (checkout.redirectUrl && !checkout.qrCode) {
      window.location.assign(checkout.redirectUrl);
      return;
    }
    const svg = await this.fetchQr(checkout.channel, auth);
    if (generation !== this.generation) return;
    this.busy = null;
    this.checkout = checkout;
    this.svg = svg;
    this.qrCode.replaceChildren(...(svg ? [svg] : []));
    if (!svg) this.notice = { kind: 'warning', text: t('pay.qrFailed') };
    this.render(this.order);
    this.paid.focus();
  }

  /**
   * @param {string} channel
   * @param {Record<string, string>} auth
   * @returns {Promise<SVGSVGElement | null>}
   */
  async fetchQr(channel, auth) {
    try {
      const response = await fetch(
        `/api/v1/orders/${encodeURIComponent(this.id)}/checkout/${encodeURIComponent(channel)}/qr.svg`,
        { headers: auth, cache: 'no-store', credentials: 'same-origin' },
      );
      if (!response.ok) return null;
      const svg = qrSvgFrom(document, await response.text());
      svg?.setAttribute('role', 'img');
      svg?.setAttribute('aria-label', t('pay.qrLabel'));
      return svg;
    } catch {
      return null;
    }
  }

  /** "I have paid": ask the shop to query the channel now. */
  async refresh() {
    if (!this.token || this.refreshing || Date.now() < this.cooldownUntil) return;
    const generation = this.generation;
    this.refreshing = true;
    this.paidNotice = { kind: 'info', text: t('pay.checking') };
    this.render(this.order);
    const result = await this.request(`/api/v1/orders/${encodeURIComponent(this.id)}/refresh`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.token}` },
    });
    if (generation !== this.generation) return;
    this.refreshing = false;
    this.cooldownUntil = Date.now() + REFRESH_COOLDOWN_MS;
    window.setTimeout(() => {
      if (generation === this.generation) this.render(this.order);
    }, REFRESH_COOLDOWN_MS);
    if (result.kind === 'ok' && result.data.order) {
      /** @type {Order} */
      const order = result.data.order;
      this.paidNotice = order.status === 'reserved' ? { kind: 'info', text: t('pay.notYet') } : null;
      this.onOrder(order);
    } else {
      this.paidNotice = payProblem(result, this.order?.currency ?? '');
      this.render(this.order);
    }
  }

  /**
   * Redraws the panel for the order as the order view knows it now.
   * @param {Order | null} order
   */
  render(order) {
    const wasReserved = this.order?.status === 'reserved';
    this.order = order;
    if (this.channels === null && order?.status === 'reserved') void this.loadChannels();
    const show = order !== null && order.status === 'reserved' && this.token !== null && this.offersChannels;
    this.root.hidden = !show;
    if (!show || !order) return;
    if (!wasReserved) this.resume();

    const key = JSON.stringify([t('pay.heading'), this.channels, this.busy, this.checkout?.method ?? null]);
    if (key !== this.drawn) {
      this.drawn = key;
      this.methods.replaceChildren(
        ...(this.channels ?? []).flatMap((channel) =>
          channel.methods.map((method) => {
            const button = h('button', 'button button--secondary pay__method');
            button.type = 'button';
            const chosen = this.checkout?.channel === channel.name && this.checkout.method === method;
            button.setAttribute('aria-pressed', String(chosen));
            button.disabled = this.busy !== null;
            button.classList.toggle('is-busy', this.busy === `${channel.name}/${method}`);
            button.append(h('span', 'spinner'), h('span', 'pay__method-label', methodLabel(channel.name, method)));
            button.firstElementChild?.setAttribute('aria-hidden', 'true');
            button.addEventListener('click', () => void this.choose(channel.name, method));
            return button;
          }),
        ),
      );
    }

    const checkout = this.checkout;
    this.qr.hidden = !checkout || !this.svg;
    if (checkout) {
      this.qrAmount.textContent = formatMoney(checkout.amount, checkout.currency);
      this.qrHint.textContent = scanHint(checkout.channel, checkout.method);
      this.svg?.setAttribute('aria-label', t('pay.qrLabel'));
    }
    showNotice(this.message, this.notice);

    this.paid.hidden = !this.active;
    this.paid.disabled = this.refreshing || Date.now() < this.cooldownUntil;
    this.paid.textContent = this.refreshing ? t('pay.checkingButton') : t('pay.paid');
    showNotice(this.paidStatus, this.active ? this.paidNotice : null);
  }
}

/**
 * @param {HTMLElement} node
 * @param {PayNotice | null} notice
 */
function showNotice(node, notice) {
  node.hidden = notice === null;
  if (!notice) return;
  // The element's own class (its place in the panel) stays first.
  node.className = `${node.dataset['part'] ?? ''} notice notice--${notice.kind}`;
  if (node.textContent !== notice.text) node.textContent = notice.text;
}
