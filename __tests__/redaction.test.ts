import { constants, generateKeyPairSync, sign } from 'node:crypto';
import pino from 'pino';
import { AbortedError, ConfigurationError } from '../src/errors';
import { createLogger } from '../src/logger';
import { TokenManager } from '../src/manager/token-manager';
import {
  REDACTED,
  isBearerValue,
  redactBearerLines,
  redactOpaqueRuns,
  redactSecrets,
  sanitizeCause,
} from '../src/redaction';

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const raw = sign('sha256', Buffer.from('zencardtest|rjgQDe8QVlnP9AJL'), {
  key: privateKey,
  padding: constants.RSA_PKCS1_PADDING,
});
const SIGNATURE = raw.toString('base64');
// The Alix page's sample access token (a JWT).
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzaWduIjoicmpnUURlOFFWbG5QOUFKTCIsInBhcnRuZXJDb2RlIjoiemVuY2FyZHRlc3QiLCJp' +
  'YXQiOjE3MzEzMTM5NzgsImV4cCI6MTczMTMxNDg3OH0.7iBLv8Ib6UHbxlrtfjnMzvhpkdYlldSkaXe6RRUI4eQ';

/** Every stretch of 16 characters of `secret`: none may be left in a redacted text. */
function fragmentsOf(secret: string): string[] {
  return Array.from({ length: secret.length - 15 }, (_, i) => secret.slice(i, i + 16));
}

describe('redactOpaqueRuns()', () => {
  it.each([
    ['base64', SIGNATURE],
    ['base64url', raw.toString('base64url')],
    ['hex', raw.toString('hex')],
    ['hex in dash-separated groups of 8', raw.toString('hex').match(/.{8}/g)?.join('-') ?? ''],
    ['split by a space in two, the first part short', `${SIGNATURE.slice(0, 20)} ${SIGNATURE.slice(20)}`],
    ['split by a space every 20 characters', SIGNATURE.match(/.{1,20}/g)?.join(' ') ?? ''],
    ['without its last character', SIGNATURE.slice(0, -1)],
    ['a JWT', JWT],
  ])('replaces a signature or token echoed as %s, keeping the words around it', (_label, echo) => {
    const text = redactOpaqueRuns(`Signature mismatch: got ${echo} for partner zencardtest`);

    const [before, after, ...more] = text.split(REDACTED);
    expect([before, more]).toEqual(['Signature mismatch: got ', []]);
    // A tail under 16 characters after the last separator is not a credential, and is let be.
    expect(after).toMatch(/^(?: [^ ]{1,15})? for partner zencardtest$/);
    expect(fragmentsOf(echo.replace(/ /g, '')).filter((fragment) => text.includes(fragment))).toEqual([]);
  });

  it.each([
    'The QR code is invalid. Please check and try again',
    'No route for POST /api/v2/auth/refresh-token',
    'see https://partner-gateway.alix.example.com/api/v2/cards/12345/transactions/history',
    'errorCode 32 (ERR_ALIX_REFRESH_TOKEN_EXPIRED_FOR_PARTNER_2024), request b69830a2-c97e-4484-a5c7-a955b04adc6d',
    'accessTokenExpiredAt refreshTokenExpiredAt are required',
    'card 4242424242424242 declined',
    'short hex id 7f9c2ba4e88f827d',
  ])('keeps %j as it is', (text) => {
    expect(redactOpaqueRuns(text)).toBe(text);
  });

  it('replaces a 32-character hex id and keeps a 31-character one', () => {
    const hex = '7f9c2ba4e88f827d616045507605853e';

    expect(redactOpaqueRuns(`id ${hex}`)).toBe(`id ${REDACTED}`);
    expect(redactOpaqueRuns(`id ${hex.slice(1)}`)).toBe(`id ${hex.slice(1)}`);
  });
});

describe('redactSecrets()', () => {
  it('replaces secrets of 4 characters or more, and leaves shorter ones: they would take words apart', () => {
    expect(redactSecrets('bad key abcd for partner ab', ['abcd', 'ab'])).toBe(`bad key ${REDACTED} for partner ab`);
  });
});

describe('sanitizeCause()', () => {
  it("keeps the class name, the message and the string code of a foreign error, and redacts its stack's bearer lines", () => {
    const cause = Object.assign(new TypeError('socket hang up'), { code: 'ECONNRESET', config: { secret: 'x' } });
    cause.stack = 'TypeError: socket hang up\nAuthorization: Bearer abc.def\n    at send (client.js:1:1)';
    const summary = sanitizeCause(cause);
    expect(summary).toMatchObject({ name: 'TypeError', message: 'socket hang up', code: 'ECONNRESET' });
    expect(summary).not.toHaveProperty('config');
    expect(summary.stack).toBe(
      `TypeError: socket hang up\nAuthorization: Bearer ${REDACTED}\n    at send (client.js:1:1)`,
    );
  });

  it("keeps this library's own errors as they are, and a thrown string as the message", () => {
    const ours = new AbortedError();
    expect(sanitizeCause(ours)).toBe(ours);
    expect(sanitizeCause('signer unavailable').message).toBe('signer unavailable');
  });
});

describe("the library's logger", () => {
  it('redacts a secret four levels deep, as an error config header is', () => {
    const lines: string[] = [];
    const user = pino({}, { write: (line: string) => void lines.push(line) });
    createLogger(user).warn({ err: { config: { headers: { authorization: 'Bearer abc' } } } }, 'replayed');
    expect(lines.join('')).not.toContain('abc');
    expect(lines.join('')).toContain(REDACTED);
  });

  it.each([
    'accessToken',
    'refreshToken',
    'signature',
    'secretKey',
    'privateKey',
    'token',
    'bearer',
    'authorization',
    'Authorization',
  ])('redacts %s at the top level and one, two and three levels down', (key) => {
    const lines: string[] = [];
    const user = pino({}, { write: (line: string) => void lines.push(line) });
    const nested = { [key]: 'secret-1', b: { [key]: 'secret-2', c: { [key]: 'secret-3' } } };
    createLogger(user).info({ [key]: 'secret-0', a: nested }, 'logged');
    expect(lines.join('')).not.toMatch(/secret-\d/);
    expect(lines.join('').split(`"${REDACTED}"`)).toHaveLength(5);
  });

  it('refuses a logger that is not a pino logger (console, null) with a ConfigurationError naming the option', () => {
    const provider = {
      authenticate: () => Promise.reject(new Error('unused')),
      refresh: () => Promise.reject(new Error('unused')),
    };
    for (const logger of [console, null, {}]) {
      // Not a TypeError ("userLogger.child is not a function") at construction.
      expect(() => new TokenManager({ provider, logger: logger as never })).toThrow(ConfigurationError);
      expect(() => createLogger(logger as never)).toThrow(/^logger must be a pino logger/);
    }
  });
});

describe('redaction edges', () => {
  it.each([' ', '.', ':', '-'])('replaces a 32-character hex id split in two halves of 16 by %j', (separator) => {
    const hex = '7f9c2ba4e88f827d616045507605853e';
    expect(redactOpaqueRuns(`id ${hex.slice(0, 16)}${separator}${hex.slice(16)} end`)).toBe(`id ${REDACTED} end`);
  });

  it('replaces hex in dash-separated groups of 8 from 48 letters and digits, and keeps 47', () => {
    const groups = Array.from({ length: 6 }, () => '7f9c2ba4').join('-');
    expect(redactOpaqueRuns(`id ${groups}`)).toBe(`id ${REDACTED}`);
    expect(redactOpaqueRuns(`id ${groups.slice(1)}`)).toBe(`id ${groups.slice(1)}`);
  });

  it('replaces every occurrence of a secret, and keeps one of 3 characters', () => {
    expect(redactSecrets('abcd, again abcd; abc', ['abcd', 'abc'])).toBe(`${REDACTED}, again ${REDACTED}; abc`);
  });

  it('tells a bearer value from other schemes and from a word that starts with "bearer"', () => {
    expect([' Bearer abc', 'bearer\tabc'].map(isBearerValue)).toEqual([true, true]);
    expect(['Bearerabc', 'Basic bearer abc', 'Bearer '].map(isBearerValue)).toEqual([false, false, false]);
  });

  it('redacts every Authorization: Bearer line of a header block, not only the first', () => {
    const block = 'POST / HTTP/1.1\r\nAuthorization: Bearer one\r\nHost: x\r\nauthorization: bearer two\r\n';
    expect(redactBearerLines(block)).toBe(
      `POST / HTTP/1.1\r\nAuthorization: Bearer ${REDACTED}\r\nHost: x\r\nauthorization: bearer ${REDACTED}\r\n`,
    );
  });

  it('takes the given secrets out of a thrown string and of a foreign error message', () => {
    expect(sanitizeCause('signer saw s3cr3t-key', ['s3cr3t-key']).message).toBe(`signer saw ${REDACTED}`);
    const summary = sanitizeCause(new Error('signer saw s3cr3t-key'), ['s3cr3t-key']);
    expect(summary.message).toBe(`signer saw ${REDACTED}`);
    expect(summary.stack).toContain(`signer saw ${REDACTED}`);
    expect(summary.stack).not.toContain('s3cr3t-key');
  });

  it("summarises a foreign error whose code starts with ERR_ but not ERR_ALIX_ (axios's ERR_BAD_REQUEST)", () => {
    const cause = Object.assign(new Error('Request failed with status code 400'), {
      code: 'ERR_BAD_REQUEST',
      config: { data: '{"refreshToken":"r-secret"}' },
    });
    const summary = sanitizeCause(cause);
    expect(summary).not.toBe(cause);
    expect(summary).toMatchObject({ message: 'Request failed with status code 400', code: 'ERR_BAD_REQUEST' });
    expect(summary).not.toHaveProperty('config');
    expect(Object.keys(summary)).toContain('code');
  });
});
