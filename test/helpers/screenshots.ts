/**
 * Where the end-to-end tests save their screenshots. A plain `npm test` writes them to a temporary
 * folder, so running the tests never changes tracked files; `UPDATE_SCREENSHOTS=1 npm test` refreshes
 * docs/screenshots/ for the README, and refuses to when no CJK font is installed (the zh-CN screens
 * would be drawn as boxes).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './http';

function hasCjkFont(): boolean {
  try {
    return execFileSync('fc-list', [':lang=zh'], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

function screenshotDir(): string {
  if (process.env.UPDATE_SCREENSHOTS !== '1') return join(tmpdir(), 'oncekey-screenshots');
  if (!hasCjkFont()) {
    throw new Error('UPDATE_SCREENSHOTS=1 needs a CJK font for the zh-CN screens (Debian: apt-get install fonts-noto-cjk)');
  }
  return join(ROOT, 'docs', 'screenshots');
}

export const SCREENSHOTS = screenshotDir();
mkdirSync(SCREENSHOTS, { recursive: true });
