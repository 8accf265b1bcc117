// @ts-check
/**
 * OnceKey buyer page: translations and locale-aware formatting.
 *
 * Two complete catalogues (zh-CN and English) with exactly the same keys; `{name}` placeholders are
 * filled by `t(key, params)`. The language comes from `?lang=`, then localStorage, then
 * navigator.language (zh* → zh-CN), else English. This module touches no browser global when it is
 * imported, so tests can load it in Node.
 */

/** @typedef {'zh-CN' | 'en'} Lang */
/** @typedef {Readonly<Record<string, string>>} Catalogue */

/** @type {readonly Lang[]} */
export const LANGUAGES = ['zh-CN', 'en'];

/** The language used when nothing else decides. */
export const DEFAULT_LANG = /** @type {Lang} */ ('en');

/** localStorage key of the buyer's chosen language. */
export const LANG_STORAGE_KEY = 'oncekey.lang';

/** @type {Readonly<Record<Lang, Catalogue>>} */
export const CATALOGUES = {
  'zh-CN': {
    'app.title': 'OnceKey · 数字卡密商店',
    'app.footer': '每个卡密只售出一次。付款后卡密会自动显示在订单页面。',
    'lang.label': '语言',

    'shop.heading': '即买即用的数字卡密',
    'shop.tagline': '游戏充值卡、礼品卡和软件激活码，付款后立即发货。',
    'shop.chooseProduct': '选择商品',
    'shop.loading': '正在加载商品…',
    'shop.empty': '目前没有在售商品，请稍后再来。',
    'shop.loadError': '无法加载商品，正在重试…',
    'shop.inStock': '库存 {count}',
    'shop.soldOut': '已售罄',

    'buy.heading': '填写订单',
    'buy.email': '电子邮箱',
    'buy.emailHint': '商家可通过此邮箱就本订单与您联系。',
    'buy.emailRequired': '请输入电子邮箱。',
    'buy.emailInvalid': '请输入有效的电子邮箱，例如 name@example.com。',
    'buy.quantity': '数量',
    'buy.quantityHint': '最多 {max} 件',
    'buy.quantityInvalid': '数量必须是 1 到 {max} 之间的整数。',
    'buy.decrease': '减少数量',
    'buy.increase': '增加数量',
    'buy.selected': '商品',
    'buy.noneSelected': '请先选择一件商品',
    'buy.total': '合计',
    'buy.submit': '立即购买',
    'buy.retry': '重试购买',
    'buy.submitting': '正在下单…',
    'buy.wait': '请等待 {seconds} 秒',
    'buy.productRequired': '请选择一件有货的商品。',
    'buy.networkError': '网络连接出现问题，不确定订单是否已提交。请点击“重试购买”：重试不会重复扣款或重复下单。',
    'buy.inFlight': '上一次请求仍在处理中，请稍候几秒后再点击“重试购买”。',
    'buy.soldOut': '抱歉，该商品库存不足，已售罄或剩余数量少于您选择的数量。',
    'buy.rateLimited': '请求过于频繁，请在 {seconds} 秒后重试。',
    'buy.rateLimitedLater': '请求过于频繁，请稍后再试。',
    'buy.productGone': '该商品已下架。',
    'buy.busy': '商店繁忙，请稍后点击“重试购买”。',
    'buy.purchaseLimit': '此邮箱在该商品上的未付款订单已达上限。请先完成付款，或稍后再试。',
    'buy.failed': '下单失败：{reason}',

    'recent.heading': '我的订单',
    'recent.hint': '保存在此浏览器中的订单链接。',
    'recent.open': '订单 {id}',

    'order.back': '返回商店',
    'order.heading': '订单详情',
    'order.loading': '正在加载订单…',
    'order.notFound': '未找到订单。请检查链接是否完整。',
    'order.noToken': '此链接缺少访问令牌，无法打开订单。请使用下单后得到的完整链接。',
    'order.id': '订单号',
    'order.product': '商品',
    'order.quantity': '数量',
    'order.amount': '金额',
    'order.email': '邮箱',
    'order.created': '下单时间',
    'order.timeLeft': '剩余 {time}',
    'order.timeUp': '付款时间已到，正在确认订单状态…',
    'order.payHint': '请按照商家的说明完成付款，本页面会自动更新。',
    'order.connectionLost': '连接中断，正在重试…',
    'order.rateLimited': '查询过于频繁，将在 {seconds} 秒后自动刷新。',
    'order.bookmark': '请收藏本页面以便日后查看订单。注意：任何拥有此链接的人都能看到您的卡密。',
    'order.codesHeading': '您的卡密',
    'order.codesNote': '请妥善保管这些卡密，不要分享给他人：持有卡密的人都可以使用它。',
    'order.copy': '复制',
    'order.copyLabel': '复制卡密 {index}',
    'order.copied': '已复制',
    'order.copiedAnnounce': '卡密 {index} 已复制到剪贴板。',
    'order.copyFailed': '无法自动复制，卡密已选中，请按 Ctrl+C（或长按）手动复制。',
    'order.error': '无法加载订单：{reason}',

    'pay.heading': '付款',
    'pay.choose': '请选择付款方式。',
    'pay.method.alipay': '支付宝',
    'pay.method.wxpay': '微信支付',
    'pay.method.qqpay': 'QQ钱包',
    'pay.method.alipayScan': '支付宝扫码',
    'pay.method.alipayWeb': '支付宝网页支付',
    'pay.method.wechatScan': '微信扫码',
    'pay.method.card': '银行卡 (Stripe)',
    'pay.method.other': '{channel}：{method}',
    'pay.scanAlipay': '请打开支付宝，扫一扫付款',
    'pay.scanWechat': '请打开微信，扫一扫付款',
    'pay.scanQq': '请打开 QQ，扫一扫付款',
    'pay.scanOther': '请用付款应用扫描二维码',
    'pay.qrLabel': '付款二维码',
    'pay.qrNote': '付款到账后，本页面会自动显示卡密。',
    'pay.qrFailed': '二维码加载失败，请再次选择付款方式。',
    'pay.paid': '我已付款',
    'pay.checkingButton': '正在查询…',
    'pay.checking': '正在向支付平台查询付款结果…',
    'pay.notYet': '暂未查到付款。如果您已付款，到账可能需要一分钟，本页面会自动更新。',
    'pay.networkError': '网络连接出现问题，请重试。',
    'pay.unavailable': '支付平台暂时没有响应，请重试或选择其他付款方式。',
    'pay.notOffered': '此付款方式已不再提供，请选择其他方式。',
    'pay.currency': '此付款方式不支持 {currency}，请选择其他方式。',
    'pay.notPayable': '此订单已无法付款。',
    'pay.rateLimited': '操作过于频繁，请稍候再试。',
    'pay.failed': '无法发起付款：{reason}',

    'status.reserved': '等待付款',
    'status.reserved.detail': '等待付款，截止 {time}',
    'status.paid': '已付款',
    'status.paid.detail': '已收到付款，正在发放卡密…',
    'status.delivered': '已发货',
    'status.delivered.detail': '卡密已发放，见下方。',
    'status.expired': '已过期',
    'status.expired.detail': '订单未在时限内付款，已过期。',
    'status.refunded': '已退款',
    'status.refunded.detail': '此订单已退款。',
    'status.needs_review': '审核中',
    'status.needs_review.detail': '商家正在审核此订单，请稍候。',

    'error.generic': '出现未知错误（HTTP {status}）。',
  },
  en: {
    'app.title': 'OnceKey · Digital codes',
    'app.footer': 'Every code is sold exactly once. After payment your codes appear on the order page.',
    'lang.label': 'Language',

    'shop.heading': 'Digital codes, delivered instantly',
    'shop.tagline': 'Game top-up cards, gift cards and license keys, delivered as soon as you pay.',
    'shop.chooseProduct': 'Choose a product',
    'shop.loading': 'Loading products…',
    'shop.empty': 'Nothing is on sale right now. Please come back later.',
    'shop.loadError': 'Could not load the products. Retrying…',
    'shop.inStock': '{count} in stock',
    'shop.soldOut': 'Sold out',

    'buy.heading': 'Your order',
    'buy.email': 'Email',
    'buy.emailHint': 'So the shop can reach you about this order.',
    'buy.emailRequired': 'Please enter your email address.',
    'buy.emailInvalid': 'Please enter a valid email address, such as name@example.com.',
    'buy.quantity': 'Quantity',
    'buy.quantityHint': 'Up to {max}',
    'buy.quantityInvalid': 'The quantity must be a whole number from 1 to {max}.',
    'buy.decrease': 'Decrease quantity',
    'buy.increase': 'Increase quantity',
    'buy.selected': 'Product',
    'buy.noneSelected': 'Choose a product first',
    'buy.total': 'Total',
    'buy.submit': 'Buy now',
    'buy.retry': 'Retry purchase',
    'buy.submitting': 'Placing your order…',
    'buy.wait': 'Wait {seconds} s',
    'buy.productRequired': 'Please choose a product that is in stock.',
    'buy.networkError':
      'A network problem occurred, so we cannot tell whether your order went through. Press “Retry purchase”: a retry never places a second order.',
    'buy.inFlight': 'Your previous request is still being processed. Wait a few seconds, then press “Retry purchase”.',
    'buy.soldOut': 'Sorry, this product is sold out, or fewer codes are left than the quantity you chose.',
    'buy.rateLimited': 'Too many requests. Please try again in {seconds} s.',
    'buy.rateLimitedLater': 'Too many requests. Please try again later.',
    'buy.productGone': 'This product is no longer on sale.',
    'buy.busy': 'The shop is busy. Please press “Retry purchase” in a moment.',
    'buy.purchaseLimit':
      'This email already has the most unpaid orders allowed for this product. Pay for them first, or try again later.',
    'buy.failed': 'The order failed: {reason}',

    'recent.heading': 'Your orders',
    'recent.hint': 'Order links saved in this browser.',
    'recent.open': 'Order {id}',

    'order.back': 'Back to the shop',
    'order.heading': 'Your order',
    'order.loading': 'Loading your order…',
    'order.notFound': 'Order not found. Please check that the link is complete.',
    'order.noToken': 'This link has no access token, so the order cannot be opened. Use the full link you got after buying.',
    'order.id': 'Order number',
    'order.product': 'Product',
    'order.quantity': 'Quantity',
    'order.amount': 'Amount',
    'order.email': 'Email',
    'order.created': 'Placed',
    'order.timeLeft': '{time} left',
    'order.timeUp': 'The payment time is up. Checking the order…',
    'order.payHint': 'Complete the payment as the shop instructs you; this page updates by itself.',
    'order.connectionLost': 'Connection lost. Retrying…',
    'order.rateLimited': 'Too many lookups. Refreshing again in {seconds} s.',
    'order.bookmark': 'Bookmark this page to come back to your order. Anyone with this link can see your codes.',
    'order.codesHeading': 'Your codes',
    'order.codesNote': 'Keep these codes safe and do not share them: whoever has a code can use it.',
    'order.copy': 'Copy',
    'order.copyLabel': 'Copy code {index}',
    'order.copied': 'Copied',
    'order.copiedAnnounce': 'Code {index} copied to the clipboard.',
    'order.copyFailed': 'Could not copy automatically. The code is selected: press Ctrl+C (or long-press) to copy it.',
    'order.error': 'Could not load the order: {reason}',

    'pay.heading': 'Pay',
    'pay.choose': 'Choose how to pay.',
    'pay.method.alipay': 'Alipay',
    'pay.method.wxpay': 'WeChat Pay',
    'pay.method.qqpay': 'QQ Wallet',
    'pay.method.alipayScan': 'Alipay (scan)',
    'pay.method.alipayWeb': 'Alipay (web)',
    'pay.method.wechatScan': 'WeChat Pay (scan)',
    'pay.method.card': 'Card (Stripe)',
    'pay.method.other': '{channel}: {method}',
    'pay.scanAlipay': 'Open Alipay and scan to pay',
    'pay.scanWechat': 'Open WeChat and scan to pay',
    'pay.scanQq': 'Open QQ and scan to pay',
    'pay.scanOther': 'Scan the code with your payment app',
    'pay.qrLabel': 'QR code to pay',
    'pay.qrNote': 'This page turns to your codes by itself once the payment arrives.',
    'pay.qrFailed': 'The QR code did not load. Choose the payment method again.',
    'pay.paid': 'I have paid',
    'pay.checkingButton': 'Checking…',
    'pay.checking': 'Asking the payment service about your payment…',
    'pay.notYet': 'No payment found yet. If you have paid, it can take a minute to arrive; this page updates by itself.',
    'pay.networkError': 'A network problem occurred. Please try again.',
    'pay.unavailable': 'The payment service did not answer. Try again or choose another method.',
    'pay.notOffered': 'This payment method is no longer offered. Please choose another.',
    'pay.currency': 'This payment method does not take {currency}. Please choose another.',
    'pay.notPayable': 'This order can no longer be paid.',
    'pay.rateLimited': 'Too many attempts. Please wait a moment and try again.',
    'pay.failed': 'Could not start the payment: {reason}',

    'status.reserved': 'Awaiting payment',
    'status.reserved.detail': 'Awaiting payment until {time}',
    'status.paid': 'Paid',
    'status.paid.detail': 'Payment received. Your codes are on their way…',
    'status.delivered': 'Delivered',
    'status.delivered.detail': 'Your codes are below.',
    'status.expired': 'Expired',
    'status.expired.detail': 'This order was not paid in time and has expired.',
    'status.refunded': 'Refunded',
    'status.refunded.detail': 'This order has been refunded.',
    'status.needs_review': 'Under review',
    'status.needs_review.detail': 'This order is under review by the shop. Please wait.',

    'error.generic': 'Something went wrong (HTTP {status}).',
  },
};

/**
 * Maps a language tag to a supported language: zh* → zh-CN, en* → en, anything else → null.
 * @param {string | null | undefined} tag
 * @returns {Lang | null}
 */
export function normalizeLang(tag) {
  if (typeof tag !== 'string') return null;
  const value = tag.trim().toLowerCase();
  if (value.startsWith('zh')) return 'zh-CN';
  if (value.startsWith('en')) return 'en';
  return null;
}

/**
 * Decides the page language: `?lang=`, then the stored choice, then the browser language.
 * @param {{ query?: string | null, stored?: string | null, browser?: string | null }} sources
 * @returns {Lang}
 */
export function pickLanguage({ query, stored, browser }) {
  return normalizeLang(query) ?? normalizeLang(stored) ?? normalizeLang(browser) ?? DEFAULT_LANG;
}

/** @type {Lang} */
let current = DEFAULT_LANG;

/** @returns {Lang} the language in use */
export function getLang() {
  return current;
}

/**
 * Switches the language used by `t()` and the formatters (it does not touch the page).
 * @param {Lang} lang
 */
export function setLang(lang) {
  current = lang;
}

/**
 * The text for `key` in the current language, with `{name}` placeholders filled from `params`.
 * Falls back to English, then to the key itself, so a missing entry is visible but never fatal.
 * @param {string} key
 * @param {Readonly<Record<string, string | number>>} [params]
 * @returns {string}
 */
export function t(key, params) {
  const text = CATALOGUES[current][key] ?? CATALOGUES.en[key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    const value = params[name];
    return value === undefined ? whole : String(value);
  });
}

/** @type {Map<string, Intl.NumberFormat>} */
const moneyFormats = new Map();

/**
 * @param {string} currency
 * @returns {Intl.NumberFormat}
 */
function moneyFormat(currency) {
  const id = `${current}|${currency}`;
  let format = moneyFormats.get(id);
  if (!format) {
    format = new Intl.NumberFormat(current, { style: 'currency', currency, currencyDisplay: 'narrowSymbol' });
    moneyFormats.set(id, format);
  }
  return format;
}

/**
 * Formats an amount in minor units (5000 CNY → ¥50.00), honouring the currency's number of decimals
 * (JPY has none, KWD three).
 * @param {number} minor integer amount in the currency's minor unit
 * @param {string} currency ISO 4217 code
 * @returns {string}
 */
export function formatMoney(minor, currency) {
  try {
    const format = moneyFormat(currency);
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    // An unknown currency code: show the plain number rather than nothing.
    return `${(minor / 100).toFixed(2)} ${currency}`;
  }
}

/**
 * Formats an instant for the buyer: the time only when it is today, else date and time.
 * @param {Date} date
 * @param {Date} [now]
 * @returns {string}
 */
export function formatDateTime(date, now = new Date()) {
  const sameDay = date.toDateString() === now.toDateString();
  const options = /** @type {Intl.DateTimeFormatOptions} */ (
    sameDay ? { timeStyle: 'short' } : { dateStyle: 'medium', timeStyle: 'short' }
  );
  return new Intl.DateTimeFormat(current, options).format(date);
}

/**
 * Formats a duration as m:ss or h:mm:ss.
 * @param {number} ms
 * @returns {string}
 */
export function formatDuration(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const ss = String(seconds).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${ss}` : `${minutes}:${ss}`;
}
