/**
 * Where the vault's key-encryption key lives when no passphrase is typed. The desktop shell fills this
 * with Electron `safeStorage`; headless mode (`oncekey serve`, the CLI, tests) uses a key file that only
 * its owner may read.
 */
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { writeFileOnce } from '../lib/write-once';

export interface SecretStore {
  /** Shown in errors: where the secret is kept. */
  readonly description: string;
  /** Returns the stored secret, creating and storing a new random one on first use. */
  loadOrCreate(): Buffer;
}

/** A 32-byte secret in a file with mode 0600, created atomically so two processes agree on one. */
export class KeyFileStore implements SecretStore {
  readonly description: string;
  constructor(private readonly path: string) {
    this.description = `key file ${path}`;
  }

  loadOrCreate(): Buffer {
    writeFileOnce(this.path, `${randomBytes(32).toString('base64')}\n`);
    if (process.platform !== 'win32') {
      const mode = statSync(this.path).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        // Someone loosened it: tighten rather than refuse, and never widen.
        chmodSync(this.path, 0o600);
      }
    }
    const secret = Buffer.from(readFileSync(this.path, 'utf8').trim(), 'base64');
    if (secret.length !== 32) throw new Error(`${this.description} is damaged (expected 32 bytes of base64)`);
    return secret;
  }
}
