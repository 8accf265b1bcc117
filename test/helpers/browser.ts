/**
 * Headless Chromium for end-to-end tests, through playwright-core (never `playwright install`): finds
 * an installed Chrome/Chromium (CHROMIUM_PATH, Debian's /usr/bin/chromium, the usual Linux, macOS and
 * Windows places) and launches it with the flags a container needs. `watchConsole` collects console
 * errors and warnings and page errors, so a test can assert there are none.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, errors, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
  '/snap/bin/chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  ...['PROGRAMFILES', 'PROGRAMFILES(X86)', 'LOCALAPPDATA'].flatMap((name) => {
    const base = process.env[name];
    return base
      ? [join(base, 'Google', 'Chrome', 'Application', 'chrome.exe'), join(base, 'Chromium', 'Application', 'chrome.exe')]
      : [];
  }),
];

/** The browser to drive, or an error that says how to get one. */
export function findChromium(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH is set to ${fromEnv}, which does not exist`);
    return fromEnv;
  }
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found) return found;
  throw new Error(
    'no Chrome or Chromium found for the end-to-end tests: install one (Debian/Ubuntu: `sudo apt-get install chromium`; ' +
      'macOS/Windows: install Google Chrome) or set CHROMIUM_PATH to its executable',
  );
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-dev-shm-usage',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: findChromium(), headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

export interface ConsoleProblems {
  /** Console errors and warnings and uncaught page errors, as text. */
  readonly messages: string[];
}

/** Starts collecting console errors/warnings and uncaught errors of every page in the context. */
export function watchConsole(context: BrowserContext): ConsoleProblems {
  const messages: string[] = [];
  const watch = (page: Page): void => {
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      // Where it came from, so a rare message (such as a CSP report whose first sentence is empty) can be traced.
      const { url, lineNumber } = message.location();
      const from = url ? ` (at ${url}:${lineNumber}, page ${page.url()})` : ` (page ${page.url()})`;
      messages.push(`${message.type()}: ${message.text()}${from}`);
    });
    page.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`));
  };
  context.pages().forEach(watch);
  context.on('page', watch);
  return { messages };
}

/**
 * Waits (at most 15 s) until no spinner is showing, then for the fonts, so a screenshot shows the page
 * and not its loading. A spinner still there after that is what the page shows; any other error throws.
 * A locator, not `waitForFunction` with a string: Playwright polls a string with eval in the page, and
 * the pages' CSP (no 'unsafe-eval') refuses it.
 */
export async function settle(page: Page): Promise<void> {
  await page
    .locator('.spinner')
    .first()
    .waitFor({ state: 'detached', timeout: 15_000 })
    .catch((error: unknown) => {
      if (!(error instanceof errors.TimeoutError)) throw error;
    });
  await page.evaluate('document.fonts.ready.then(() => true)');
}
