/**
 * Creates a small secret file with its whole content, or leaves the one already there: the content goes
 * to a temporary file beside it first, which is then hard-linked into place (a link never replaces an
 * existing file). Several processes starting on a new data folder at once thus agree on one secret, and
 * none can read a file that exists but is still empty (an exclusive create followed by a write allows that).
 */
import { randomBytes } from 'node:crypto';
import { linkSync, unlinkSync, writeFileSync } from 'node:fs';

/** Returns true when this call created `path`, false when it existed already. */
export function writeFileOnce(path: string, data: string | Uint8Array, mode = 0o600): boolean {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, data, { mode, flag: 'wx' });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}
