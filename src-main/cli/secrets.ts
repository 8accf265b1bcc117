/** Secrets `serve` needs: given on the command line or in the environment, else generated once and kept in a 0600 file. */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ResolvedSecret {
  readonly value: string;
  /** The file it was read from or written to, when it came from the data folder. */
  readonly file: string | null;
  readonly generated: boolean;
}

export function resolveSecret(dataDir: string, name: string, given: string | undefined): ResolvedSecret {
  if (given !== undefined && given !== '') return { value: given, file: null, generated: false };
  const file = join(dataDir, name);
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    return { value: readFileSync(file, 'utf8').trim(), file, generated: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { value: readFileSync(file, 'utf8').trim(), file, generated: false };
  }
}
