/**
 * The database URL as `serve --database` takes it: a TCP one and a Unix-socket one
 * (`postgres://user:secret@/db?host=/dir&port=5432`, no host: WHATWG URL refuses it, pg takes it). What
 * pg connects to is read from pg's own parse; what logs and errors show never holds the password. The
 * simulator's --postgres / --redis go through the same parse and redaction (lib/urls.ts).
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isPostgresUrl, redactUrl } from '../src-main/pg/connect';
import { checkUrl } from '../src-main/sim/servers/config';

const SOCKET_URL = 'postgres://shop:s3cret@/oncekey?host=/tmp/oncekey-pg-abc/socket&port=54321';

describe('PostgreSQL URLs', () => {
  it('takes a Unix-socket URL: pg reads the socket folder and port from its query', () => {
    expect(isPostgresUrl(SOCKET_URL)).toBe(true);
    expect(isPostgresUrl('postgresql:///oncekey?host=/run/postgresql')).toBe(true);
    const client = new pg.Client({ connectionString: SOCKET_URL });
    expect({ host: client.host, port: client.port, user: client.user, database: client.database }).toEqual({
      host: '/tmp/oncekey-pg-abc/socket',
      port: 54321,
      user: 'shop',
      database: 'oncekey',
    });
  });

  it('redacts the password of a Unix-socket URL instead of calling it unparseable', () => {
    expect(redactUrl(SOCKET_URL)).toBe('postgres://shop:***@/oncekey?host=/tmp/oncekey-pg-abc/socket&port=54321');
    expect(redactUrl('postgres://shop@/oncekey?host=/run/postgresql')).toBe('postgres://shop@/oncekey?host=/run/postgresql');
    expect(redactUrl('postgresql:///oncekey?host=/run/postgresql')).toBe('postgresql:///oncekey?host=/run/postgresql');
  });

  it('redacts the password of a TCP URL, and a password given as a query parameter', () => {
    expect(redactUrl('postgres://shop:s3cret@db.example:5432/oncekey')).toBe('postgres://shop:***@db.example:5432/oncekey');
    const masked = redactUrl('postgres://shop@/oncekey?host=/run/postgresql&password=s3cret');
    expect(masked).not.toContain('s3cret');
    expect(new URLSearchParams(masked.split('?')[1]).get('password')).toBe('***');
    // An unescaped @ in the password: the last @ ends the user part, for WHATWG URL and pg alike.
    expect(redactUrl('postgres://shop:p@ss@/oncekey?host=/x')).toBe('postgres://shop:***@/oncekey?host=/x');
  });

  it('says a URL it cannot read is unparseable, without echoing it', () => {
    expect(redactUrl('postgres://shop:s3cret@[bad/oncekey')).toBe('postgres://(unparseable URL)');
  });

  it('the simulator takes the same URLs and shows them the same way (Redis too)', () => {
    expect(() => checkUrl(SOCKET_URL, 'postgres')).not.toThrow();
    expect(() => checkUrl('redis://127.0.0.1:6379', 'postgres')).toThrow('must start with postgres:// or postgresql://');
    expect(() => checkUrl('not a url', 'redis')).toThrow('the redis URL is not a URL');
    expect(redactUrl('redis://:s3cret@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
    expect(redactUrl('redis://x:s3cret@[bad')).toBe('redis://(unparseable URL)');
  });
});
