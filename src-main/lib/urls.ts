/**
 * Server URLs as logs and errors may show them (PostgreSQL's for the shop and the simulator, Redis's
 * for the simulator): never a password. A Unix-socket URL, `postgres://user:secret@/db?host=/run/pg`, has
 * no host, which WHATWG URL refuses but pg accepts: `parseServerUrl` reads it too.
 */

/** Stands in for the missing host of a Unix-socket URL while WHATWG URL parses it (pg does the same). */
const NO_HOST = 'no-host.invalid';

/** `url` parsed, a host-less (Unix-socket) one included; throws as `new URL` does on anything else. */
export function parseServerUrl(url: string): URL {
  const hostless = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*@)\//i.exec(url);
  return new URL(hostless ? `${hostless[1]}${NO_HOST}${url.slice(hostless[1]!.length)}` : url);
}

/**
 * `postgres://user:secret@host/db` -> `postgres://user:***@host/db`; a `password` query parameter (pg
 * reads that too) is masked the same way; a URL that does not parse is `<scheme>//(unparseable URL)`,
 * never echoed.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = parseServerUrl(url);
    if (parsed.password !== '') parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString().replace(`@${NO_HOST}/`, '@/');
  } catch {
    return `${/^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? 'postgres:'}//(unparseable URL)`;
  }
}
