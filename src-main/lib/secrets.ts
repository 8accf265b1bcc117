/** Secrets `serve` needs: given on the command line or in the environment, else generated once and kept in a 0600 file. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileOnce } from './write-once';

export interface ResolvedSecret {
  readonly value: string;
  /** The file it was read from or written to, when it came from the data folder. */
  readonly file: string | null;
  readonly generated: boolean;
}

export function resolveSecret(dataDir: string, name: string, given: string | undefined): ResolvedSecret {
  if (given !== undefined && given !== '') return { value: given, file: null, generated: false };
  const file = join(dataDir, name);
  const generated = writeFileOnce(file, `${randomBytes(32).toString('base64url')}\n`);
  const value = readFileSync(file, 'utf8').trim();
  if (value === '') throw new Error(`${file} is empty: delete it to have a new secret generated, or pass one`);
  return { value, file, generated };
}
