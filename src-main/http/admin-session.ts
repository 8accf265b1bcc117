/**
 * Browser mode's sign-in: `npm start` prints a link with a one-time login token (as Jupyter does);
 * opening it swaps the token, once, for an HttpOnly SameSite=Strict session cookie. Only SHA-256
 * digests of tokens and session ids are kept, in memory (a lookup by digest leaks nothing about the
 * token through timing); restarting the server signs everyone out.
 */
import { createHash, randomBytes } from 'node:crypto';

const digest = (value: string): string => createHash('sha256').update(value, 'utf8').digest('base64url');

/** An unused login token stays valid this long; a session lives this long after its last request. */
export const LOGIN_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;

export class BrowserSessions {
  private readonly loginTokens = new Map<string, number>();
  private readonly sessions = new Map<string, number>();

  constructor(private readonly clock: () => number = Date.now) {}

  /** A new one-time login token (43 characters of base64url). */
  issueLoginToken(): string {
    const token = randomBytes(32).toString('base64url');
    this.loginTokens.set(digest(token), this.clock() + LOGIN_TOKEN_TTL_MS);
    return token;
  }

  /** Spends a login token: a new session id, or null when the token is unknown, used or expired. */
  exchange(token: string): string | null {
    if (token.length === 0 || token.length > 200) return null;
    const key = digest(token);
    const expires = this.loginTokens.get(key);
    if (expires === undefined) return null;
    this.loginTokens.delete(key); // once, whatever happens next
    if (expires < this.clock()) return null;
    const session = randomBytes(32).toString('base64url');
    this.sessions.set(digest(session), this.clock());
    return session;
  }

  /** True for a live session id; refreshes its idle timer. */
  check(session: string | undefined): boolean {
    if (session === undefined || session.length === 0 || session.length > 200) return false;
    const key = digest(session);
    const seen = this.sessions.get(key);
    if (seen === undefined) return false;
    if (this.clock() - seen > SESSION_IDLE_MS) {
      this.sessions.delete(key);
      return false;
    }
    this.sessions.set(key, this.clock());
    return true;
  }
}

/** The session cookie's name; the port is in it so two shops on one PC do not sign each other out. */
export function sessionCookieName(port: number): string {
  return `oncekey_session_${port}`;
}

/** Reads one cookie from a Cookie header (no library needed for one name). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index === -1) continue;
    if (part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

export function sessionCookie(name: string, session: string): string {
  return `${name}=${session}; Path=/; HttpOnly; SameSite=Strict`;
}
