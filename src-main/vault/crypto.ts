/**
 * The vault's cryptography: codes sealed with AES-256-GCM under a data key, fingerprinted with a keyed
 * HMAC, and the data key wrapped by a key-encryption key (from a passphrase via scrypt, or a random one
 * kept by the OS secret store / a key file).
 *
 * A sealed value is `version(1) || iv(12) || tag(16) || ciphertext`. The associated data binds each
 * ciphertext to its row's identity (product id and fingerprint, the row's UNIQUE key), so a sealed code
 * moved to another row fails to open.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomFillSync, scryptSync } from 'node:crypto';

const SEAL_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + IV_BYTES + TAG_BYTES;

/** scrypt cost for passphrases: N=2^17, r=8, p=1 (about 128 MiB and a fraction of a second). */
export const SCRYPT_PARAMS = { N: 2 ** 17, r: 8, p: 1 } as const;

export class VaultCryptoError extends Error {
  override readonly name = 'VaultCryptoError';
}

/** The two working keys derived from one data key. Never leaves the process. */
export interface VaultKeys {
  readonly sealKey: Buffer;
  readonly fingerprintKey: Buffer;
}

export function deriveVaultKeys(dataKey: Buffer): VaultKeys {
  if (dataKey.length !== 32) throw new VaultCryptoError('the data key must be 32 bytes');
  return {
    sealKey: Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'oncekey/v1/seal', 32)),
    fingerprintKey: Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), 'oncekey/v1/fingerprint', 32)),
  };
}

/**
 * Random IVs drawn from a pool refilled in bulk: one `randomFillSync` per 4096 IVs instead of one
 * syscall-backed call per code, which matters when a million codes are imported.
 */
const ivPool = Buffer.alloc(IV_BYTES * 4096);
let ivOffset = ivPool.length;
function nextIv(): Buffer {
  if (ivOffset >= ivPool.length) {
    randomFillSync(ivPool);
    ivOffset = 0;
  }
  const iv = Buffer.from(ivPool.subarray(ivOffset, ivOffset + IV_BYTES));
  ivOffset += IV_BYTES;
  return iv;
}

export function seal(key: Buffer, plaintext: Buffer | string, aad: Buffer | string): Buffer {
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(typeof aad === 'string' ? Buffer.from(aad) : aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(SEAL_VERSION), iv, cipher.getAuthTag(), body]);
}

export function open(key: Buffer, sealed: Uint8Array, aad: Buffer | string): Buffer {
  const box = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  if (box.length < HEADER_BYTES || box[0] !== SEAL_VERSION) throw new VaultCryptoError('not a sealed value');
  const decipher = createDecipheriv('aes-256-gcm', key, box.subarray(1, 1 + IV_BYTES));
  decipher.setAAD(typeof aad === 'string' ? Buffer.from(aad) : aad);
  decipher.setAuthTag(box.subarray(1 + IV_BYTES, HEADER_BYTES));
  try {
    return Buffer.concat([decipher.update(box.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    throw new VaultCryptoError('a sealed value failed its integrity check (wrong key, or moved or edited)');
  }
}

/** Keyed fingerprint of a code: dedupe and dispute lookup without decrypting. */
export function fingerprint(key: Buffer, code: string): Buffer {
  return createHmac('sha256', key).update(code, 'utf8').digest();
}

/** The associated data that ties a sealed code to its row. */
export function keyAad(productId: string, codeFingerprint: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`oncekey/key/${productId}/`), codeFingerprint]);
}

export function newDataKey(): Buffer {
  return randomBytes(32);
}

export function passphraseKek(passphrase: string, salt: Buffer, params = SCRYPT_PARAMS): Buffer {
  return scryptSync(passphrase.normalize('NFKC'), salt, 32, { ...params, maxmem: 256 * 1024 * 1024 });
}

/** Wraps the data key under a key-encryption key; `label` says which wrap it is (bound as AAD). */
export function wrapDataKey(kek: Buffer, dataKey: Buffer, label: string): Buffer {
  return seal(kek, dataKey, `oncekey/wrap/${label}`);
}

export function unwrapDataKey(kek: Buffer, wrapped: Uint8Array, label: string): Buffer {
  return open(kek, wrapped, `oncekey/wrap/${label}`);
}
