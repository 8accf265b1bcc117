/** What the payment-channel tests share: an RSA key pair, a bounded wait, a fast query schedule. */
import { generateKeyPairSync } from 'node:crypto';

/** A fresh RSA-2048 key pair as PEM (PKCS8 private, SPKI public): keys the tests make, never a provider's. */
export function rsaPair(): { privateKey: string; publicKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
}

/** Waits until `what` holds, checking every 50 ms, for at most `timeoutMs`. */
export async function until(what: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The query schedule the tests use: first query after 200 ms, then every 300 ms. */
export const FAST_SCHEDULE = { delaysMs: [200], everyMs: 300, afterExpiryMs: 200 };
