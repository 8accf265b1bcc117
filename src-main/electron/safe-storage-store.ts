/**
 * The vault's key-encryption secret kept with Electron `safeStorage` (the OS keychain: Keychain on
 * macOS, DPAPI on Windows, libsecret/KWallet on Linux), as an encrypted blob in the data folder.
 *
 * On Linux without a keyring Electron falls back to `basic_text`, which only obfuscates with a
 * hard-coded key: that is no protection, so `usableBackend()` says no and the shell asks for a
 * passphrase instead.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { safeStorage } from 'electron';
import type { SecretStore } from '../vault/secret-store';
import { writeFileOnce } from '../lib/write-once';

export const SAFE_STORAGE_FILE = 'vault.key.safe';

/** True when safeStorage really protects secrets here (call after app `ready`). */
export function usableBackend(): boolean {
  if (!safeStorage.isEncryptionAvailable()) return false;
  return process.platform !== 'linux' || safeStorage.getSelectedStorageBackend() !== 'basic_text';
}

export class SafeStorageStore implements SecretStore {
  readonly description: string;

  private constructor(
    private readonly secret: Buffer,
    file: string,
  ) {
    this.description = `the system keychain (${file})`;
  }

  /** Reads the stored secret, or creates, encrypts and stores a new one (created whole or not at all: two windows agree). */
  static async open(dataDir: string): Promise<SafeStorageStore> {
    const file = join(dataDir, SAFE_STORAGE_FILE);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (!existsSync(file)) writeFileOnce(file, await safeStorage.encryptStringAsync(randomBytes(32).toString('base64')));
    const { result, shouldReEncrypt } = await safeStorage.decryptStringAsync(await readFile(file));
    const secret = Buffer.from(result, 'base64');
    if (secret.length !== 32) throw new Error(`${file} is damaged (expected 32 bytes once decrypted)`);
    if (shouldReEncrypt) await writeFile(file, await safeStorage.encryptStringAsync(result), { mode: 0o600 });
    return new SafeStorageStore(secret, file);
  }

  loadOrCreate(): Buffer {
    return Buffer.from(this.secret);
  }
}
