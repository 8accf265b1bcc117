/**
 * writeFileOnce: the secret files (vault key, admin token, webhook secret) appear whole or not at all,
 * and the first writer wins. The many-processes case is in migrations.test.ts ("several processes open
 * a brand-new shop at once"), which caught a reader seeing an empty key file.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileOnce } from '../src-main/lib/write-once';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('writeFileOnce', () => {
  it('creates the file with its content and mode once; a second call leaves it and says so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oncekey-once-'));
    dirs.push(dir);
    const file = join(dir, 'secret');
    expect(writeFileOnce(file, 'first\n')).toBe(true);
    expect(writeFileOnce(file, 'second\n')).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('first\n');
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['secret']); // no temporary file left behind
  });
});
