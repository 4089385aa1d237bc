import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import type * as nodeFs from 'node:fs';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { AbortedError, ConfigurationError, ErrorCodes } from '../../../src/errors';
import { AlixAuthProvider, type AlixAuthProviderOptions } from '../../../src/providers/alix';
import { loadPrivateKey } from '../../../src/providers/alix/private-key';
import { captureThrow, findLeaks, makeRsaKeyPair, pemBodyLines } from '../../helpers/alix-keys';

const SECRET_KEY = 'construction-secret-4b1d9e';
const GATEWAY_KEY = 'gateway-subscription-key-5f0a93';
const keys = makeRsaKeyPair();
const smallKeys = makeRsaKeyPair(1024);
const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const ecPem = ecKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const ONE_YEAR_S = 365 * 86_400;

const errors: unknown[] = [];
const dir = mkdtempSync(join(tmpdir(), 'alix-keys-'));
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function options(overrides: Partial<AlixAuthProviderOptions> = {}): AlixAuthProviderOptions {
  return {
    baseUrl: 'https://alix.test',
    partnerCode: 'acme',
    secretKey: SECRET_KEY,
    privateKey: keys.privatePem,
    ...overrides,
  };
}

function constructionError(overrides: Partial<AlixAuthProviderOptions>): Error {
  const error = captureThrow(() => new AlixAuthProvider(options(overrides)), errors);
  expect(error).toBeInstanceOf(ConfigurationError);
  expect(error).toMatchObject({ code: ErrorCodes.CONFIGURATION, transient: false });
  return error as Error;
}

function tokenResponse(): object {
  const now = Math.floor(Date.now() / 1000);
  return {
    success: true,
    message: 'ok',
    errorCode: 0,
    data: {
      accessToken: 'a',
      refreshToken: 'r',
      accessTokenExpiresAt: String(now + 900),
      refreshTokenExpiresAt: String(now + ONE_YEAR_S),
    },
  };
}

describe('AlixAuthProvider construction', () => {
  describe('privateKey', () => {
    it('accepts a PKCS#8 PEM string', () => {
      expect(() => new AlixAuthProvider(options())).not.toThrow();
    });

    it('accepts a PKCS#1 PEM string', () => {
      const pkcs1 = keys.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      expect(() => new AlixAuthProvider(options({ privateKey: pkcs1 }))).not.toThrow();
    });

    it('accepts a one-line PEM with literal \\n sequences (as env variables carry it)', () => {
      const oneLine = keys.privatePem.replace(/\n/g, '\\n');
      expect(loadPrivateKey(oneLine).asymmetricKeyType).toBe('rsa');
    });

    it('accepts a one-line PEM with literal \\r\\n sequences (JSON-encoded from Windows)', () => {
      const oneLine = keys.privatePem.trim().replace(/\n/g, '\\r\\n');
      expect(loadPrivateKey(oneLine).asymmetricKeyType).toBe('rsa');
    });

    it('accepts a one-line PEM ending in a line break, as an editor or `echo` saves it to a file', () => {
      const file = join(dir, 'one-line.pem');
      writeFileSync(file, `${keys.privatePem.trim().replace(/\n/g, '\\n')}\n`);
      expect(loadPrivateKey(file).asymmetricKeyType).toBe('rsa');
      expect(loadPrivateKey(`${keys.privatePem.trim().replace(/\n/g, '\\n')}\r\n`).asymmetricKeyType).toBe('rsa');
    });

    it('accepts a KeyObject', () => {
      expect(() => new AlixAuthProvider(options({ privateKey: keys.privateKey }))).not.toThrow();
    });

    it('accepts a PEM file path and signs with it', async () => {
      const file = join(dir, 'good.pem');
      writeFileSync(file, keys.privatePem);
      server.use(http.post('https://alix.test/api/v2/auth/access-token', () => HttpResponse.json(tokenResponse())));

      const set = await new AlixAuthProvider(options({ privateKey: file })).authenticate();

      expect(set.accessToken).toBe('a');
    });

    it('rejects a 1024-bit key at construction', () => {
      expect(constructionError({ privateKey: smallKeys.privatePem }).message).toBe(
        'privateKey is a 1024-bit RSA key; at least 2048 bits are required',
      );
    });

    it('rejects a 1024-bit KeyObject at construction', () => {
      expect(constructionError({ privateKey: smallKeys.privateKey }).message).toMatch(/1024-bit/);
    });

    it('rejects a public key PEM passed as the private key', () => {
      expect(constructionError({ privateKey: keys.publicPem }).message).toMatch(/public key/);
    });

    it('accepts a PEM bundle holding the private key beside its public key', () => {
      // Node signs with the bundle's private key; its other blocks do not make it a public key.
      expect(loadPrivateKey(keys.publicPem + keys.privatePem).asymmetricKeyType).toBe('rsa');
      expect(loadPrivateKey(keys.privatePem + keys.publicPem).asymmetricKeyType).toBe('rsa');
      const file = join(dir, 'bundle.pem');
      writeFileSync(file, `${keys.publicPem}${keys.privatePem}`);
      expect(() => new AlixAuthProvider(options({ privateKey: file }))).not.toThrow();
    });

    it('rejects a public KeyObject passed as the private key', () => {
      expect(constructionError({ privateKey: keys.publicKey }).message).toMatch(/is a public key/);
    });

    it('rejects an EC key', () => {
      expect(constructionError({ privateKey: ecPem }).message).toMatch(/is a ec key; Alix signatures need an RSA key/);
    });

    it('accepts a PEM wrapped in the quotes `docker --env-file` keeps', () => {
      for (const quote of ['"', "'"]) {
        const quoted = `${quote}${keys.privatePem.trim().replace(/\n/g, '\\n')}${quote}`;
        expect(loadPrivateKey(quoted).asymmetricKeyType).toBe('rsa');
      }
    });

    it('rejects an OpenSSH private key, saying how to convert it', () => {
      const openSsh =
        '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
      expect(constructionError({ privateKey: openSsh }).message).toBe(
        'privateKey is an OpenSSH key; convert it to PEM (ssh-keygen -p -m PEM -f <file>)',
      );
    });

    it('rejects an EC KeyObject', () => {
      expect(constructionError({ privateKey: ecKey }).message).toMatch(/ec key/);
    });

    it('rejects a PEM with a corrupt body', () => {
      const corrupt = keys.privatePem.replace(/[A-Za-z0-9+/]{40}/, 'x'.repeat(40));
      expect(constructionError({ privateKey: corrupt }).message).toBe('privateKey is not a valid PEM private key');
    });

    it.each(['pkcs8', 'pkcs1'] as const)('rejects an encrypted PEM (%s)', (type) => {
      const encrypted = keys.privateKey
        .export({ type, format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
        .toString();
      expect(constructionError({ privateKey: encrypted }).message).toMatch(/encrypted PEM/);
    });

    it('rejects a bare base64 key body without echoing it', () => {
      const body = pemBodyLines(keys.privatePem).join('');
      const error = constructionError({ privateKey: body });
      expect(error.message).toBe("privateKey is neither a PEM string (no '-----BEGIN' line) nor a file path");
    });

    it('rejects a key body pasted without its header lines, as an env variable carries it (\\n), unquoted', () => {
      // Short enough (a 1024-bit key) to be taken for a path; its backslashes must not make it read as one.
      const body = pemBodyLines(smallKeys.privatePem).join('\\n');
      const error = constructionError({ privateKey: body });
      expect(error.message).toBe("privateKey is neither a PEM string (no '-----BEGIN' line) nor a file path");
    });

    it('rejects one 64-character line of a key body as key material, not as a path', () => {
      const line = pemBodyLines(keys.privatePem)[0] ?? '';
      expect(line).toHaveLength(64);
      const error = constructionError({ privateKey: line });
      expect(error.message).toBe("privateKey is neither a PEM string (no '-----BEGIN' line) nor a file path");
    });

    it('rejects a multi-line non-PEM string', () => {
      expect(constructionError({ privateKey: 'not\na key' }).message).toMatch(/neither a PEM string/);
    });

    it('rejects an unreadable file path, naming the path', () => {
      const missing = join(dir, 'missing.pem');
      expect(constructionError({ privateKey: missing }).message).toBe(
        `privateKey file '${missing}' cannot be read (ENOENT)`,
      );
    });

    it.each([
      [
        'a FIFO, which would block the read until a writer comes',
        () => {
          const fifo = join(dir, 'key-fifo.pem');
          execFileSync('mkfifo', [fifo]);
          return fifo;
        },
      ],
      ['a device such as /dev/zero, which never ends', () => '/dev/zero'],
    ])('rejects %s at once, naming the path', (_label, make) => {
      const file = make();
      expect(constructionError({ privateKey: file }).message).toMatch(
        /^privateKey file .+ is not a regular file \(a FIFO, device or socket\)$/,
      );
    });

    it('rejects a key file far larger than a PEM key (a log, a disk image) without reading it in', () => {
      const file = join(dir, 'huge.pem');
      writeFileSync(file, '');
      truncateSync(file, 64 * 1024 + 1);
      expect(constructionError({ privateKey: file }).message).toBe(
        `privateKey file '${file}' is 65537 bytes, too large for a PEM private key (at most 65536)`,
      );
    });

    it('reads at most 64 KiB of a key file whose reported size is 0, as files under /proc and /sys report', () => {
      const file = join(dir, 'proc-like.pem');
      writeFileSync(file, `${keys.privatePem}${'#'.repeat(64 * 1024)}`);
      // The module object private-key.ts reads statSync from (an `import * as` copy would not be it).
      const fs = jest.requireActual<typeof nodeFs>('node:fs');
      const realStat = fs.statSync;
      const stat = jest.spyOn(fs, 'statSync').mockImplementation(((path: string) => {
        const stats = realStat(path);
        return path === file ? Object.assign(stats, { size: 0 }) : stats;
      }) as typeof fs.statSync);
      try {
        expect(constructionError({ privateKey: file }).message).toBe(
          `privateKey file '${file}' holds more than 65536 bytes, too large for a PEM private key`,
        );
      } finally {
        stat.mockRestore();
      }
    });

    it('rejects a symlink loop with the fs code', () => {
      const loop = join(dir, 'loop.pem');
      symlinkSync(loop, loop);
      expect(constructionError({ privateKey: loop }).message).toBe(`privateKey file '${loop}' cannot be read (ELOOP)`);
    });

    it('rejects a secret pasted as privateKey without quoting it (no path separator or .pem/.key)', () => {
      expect(constructionError({ privateKey: SECRET_KEY }).message).toBe(
        'privateKey file (the path given) cannot be read (ENOENT)',
      );
    });

    it('rejects a base64 secret with a slash pasted as privateKey without quoting it', () => {
      const base64Secret = 'q7Zk/9vR+Lm2Xw==';
      const error = constructionError({ privateKey: base64Secret });
      expect(error.message).toBe('privateKey file (the path given) cannot be read (ENOENT)');
      expect(findLeaks([error], { base64Secret })).toEqual([]);
    });

    it('reads a key file whose path is one long run of base64 characters, as a mounted secret may be named', () => {
      const file = join(dir, 'run_secrets_alix_partner_private_key_for_the_production_environment');
      writeFileSync(file, keys.privatePem);
      expect(file).toMatch(/^[A-Za-z0-9+/=_-]{64,}$/); // the case: no dot, no extension
      expect(loadPrivateKey(file).type).toBe('private');
    });

    it('rejects a directory as the key file', () => {
      expect(constructionError({ privateKey: dir }).message).toMatch(/cannot be read \(EISDIR\)/);
    });

    it('says a directory given as the key file is one, and which file in it to name', () => {
      expect(constructionError({ privateKey: `${dir}/` }).message).toMatch(
        /cannot be read \(EISDIR\): a directory; name the key file in it \(keygen: alix-partner-private\.pem\)$/,
      );
    });

    it('rejects a file without a PEM key', () => {
      const file = join(dir, 'garbage.pem');
      writeFileSync(file, 'hello');
      chmodSync(file, 0o600);
      expect(constructionError({ privateKey: file }).message).toBe(
        `privateKey file '${file}' does not contain a PEM key`,
      );
    });

    it('rejects a file holding a public key', () => {
      const file = join(dir, 'public.pem');
      writeFileSync(file, keys.publicPem);
      expect(constructionError({ privateKey: file }).message).toMatch(/file '.*public\.pem' is a public key/);
    });

    it('rejects a secret KeyObject', () => {
      const secret = createSecretKey(Buffer.alloc(32, 1));
      expect(constructionError({ privateKey: secret }).message).toMatch(/is a secret key/);
    });

    it('rejects both privateKey and signer', () => {
      expect(constructionError({ signer: async () => 'AAAA' }).message).toBe(
        'exactly one of privateKey and signer is required',
      );
    });

    it('rejects neither privateKey nor signer', () => {
      expect(constructionError({ privateKey: undefined }).message).toBe(
        'exactly one of privateKey and signer is required',
      );
    });

    it('accepts a signer function instead of a key', () => {
      expect(() => new AlixAuthProvider(options({ privateKey: undefined, signer: async () => 'AAAA' }))).not.toThrow();
    });
  });

  describe('credentials and options', () => {
    it.each([undefined, '', '   '])('rejects partnerCode %p', (partnerCode) => {
      expect(constructionError({ partnerCode: partnerCode as string }).message).toMatch(/partnerCode is required/);
    });

    it.each([undefined, ''])('rejects secretKey %p with the default signed string', (secretKey) => {
      expect(constructionError({ secretKey }).message).toMatch(/secretKey is required/);
    });

    it('accepts a missing secretKey when signedString is overridden', () => {
      expect(
        () => new AlixAuthProvider(options({ secretKey: undefined, signedString: (c) => c.partnerCode })),
      ).not.toThrow();
    });

    it.each([() => Number.NaN, () => new Date(), () => '1731313978000'])(
      'rejects a now clock that answers other than finite epoch ms (%p), at construction',
      (now) => {
        const error = constructionError({ now: now as () => number });
        expect(error.message).toBe('now must return a finite number of epoch ms');
      },
    );

    it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects timeoutMs %p', (timeoutMs) => {
      expect(constructionError({ timeoutMs }).message).toMatch(/timeoutMs/);
    });

    it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects signerTimeoutMs %p', (signerTimeoutMs) => {
      expect(constructionError({ signerTimeoutMs }).message).toBe('signerTimeoutMs must be a positive number of ms');
    });

    it.each(['signedString', 'buildAuthenticateBody', 'buildRefreshBody', 'now'] as const)(
      'rejects a %s that is not a function',
      (name) => {
        expect(constructionError({ [name]: 'not a function' }).message).toBe(`${name} must be a function`);
      },
    );

    it('rejects a signer that is not a function', () => {
      const signer = 'not a function' as unknown as AlixAuthProviderOptions['signer'];
      expect(constructionError({ privateKey: undefined, signer }).message).toBe('signer must be a function');
    });

    it('rejects a path without a leading slash', () => {
      expect(constructionError({ paths: { refresh: 'api/refresh' } }).message).toBe(
        "paths.refresh must be a string starting with '/'",
      );
    });

    it('reads an option or path given as undefined as not given', () => {
      const unset = { userEmail: undefined, timeoutMs: undefined, logger: undefined, signer: undefined };
      expect(() => new AlixAuthProvider(options({ ...unset, paths: { refresh: undefined } }))).not.toThrow();
    });

    it('rejects an empty userEmail', () => {
      expect(constructionError({ userEmail: '' }).message).toMatch(/userEmail/);
    });
  });

  describe('baseUrl', () => {
    it.each([
      'http://alix.example',
      'http://10.0.0.5:8080',
      'http://[::2]/',
      'http://localhost.evil.example',
      'http://evil-localhost',
    ])('refuses plain http for the non-loopback %s', (baseUrl) => {
      expect(constructionError({ baseUrl }).message).toMatch(/plain http: for .*only loopback hosts/);
    });

    it.each([
      'http://127.0.0.1:8080',
      'http://127.1.2.3',
      'http://localhost:3000',
      'http://[::1]:4000',
      'https://alix.example',
    ])('accepts %s', (baseUrl) => {
      expect(() => new AlixAuthProvider(options({ baseUrl }))).not.toThrow();
    });

    it('calls a loopback http base URL', async () => {
      let hits = 0;
      server.use(
        http.post('http://127.0.0.1:8080/api/v2/auth/access-token', () => {
          hits += 1;
          return HttpResponse.json(tokenResponse());
        }),
      );

      await new AlixAuthProvider(options({ baseUrl: 'http://127.0.0.1:8080' })).authenticate();

      expect(hits).toBe(1);
    });

    it('drops every trailing slash of the baseUrl path, so the request path does not start with //', async () => {
      let hits = 0;
      server.use(
        http.post('https://alix.test/v1/api/v2/auth/access-token', () => {
          hits += 1;
          return HttpResponse.json(tokenResponse());
        }),
      );

      await new AlixAuthProvider(options({ baseUrl: 'https://alix.test/v1//' })).authenticate();

      expect(hits).toBe(1);
    });

    it.each([
      ['a missing value', undefined, /baseUrl is required/],
      ['a relative URL', '/api', /not an absolute URL/],
      ['garbage', 'not a url', /not an absolute URL/],
      ['another scheme', 'ftp://alix.example', /must use https:/],
      ['credentials', 'https://user:pw@alix.example', /user name or password/],
      ['a password without a user name', 'https://:pw@alix.example', /user name or password/],
      ['a query', 'https://alix.example/?x=1', /query or fragment/],
      ['a fragment', 'https://alix.example/#x', /query or fragment/],
    ])('rejects %s', (_label, baseUrl, message) => {
      expect(constructionError({ baseUrl: baseUrl as string }).message).toMatch(message);
    });
  });

  describe('request configuration', () => {
    it.each([
      ['a query', { refresh: `/api/v2/auth/refresh-token?subscription-key=${GATEWAY_KEY}` }, 'paths.refresh'],
      ['a fragment', { authenticate: `/api/v2/auth/access-token#${GATEWAY_KEY}` }, 'paths.authenticate'],
    ])('refuses a path with %s at construction, without echoing it', (_what, paths, name) => {
      // Every error message shows the called URL: a query there (a gateway key, say) would be in each one.
      const error = constructionError({ paths });
      expect(error.message).toContain(`${name} must not contain a query or fragment`);
    });

    it.each([
      ['secretKey', `${SECRET_KEY}\n`],
      ['secretKey', ` ${SECRET_KEY}`],
      ['partnerCode', 'acme '],
      ['partnerCode', 'ac\tme'],
      ['userEmail', 'user@example.com\r\n'],
      ['userEmail', 'user@\u0000example.com'],
      ['partnerCode', 'ac\u200bme'],
      ['secretKey', `${SECRET_KEY}\u200b`],
      ['secretKey', `${SECRET_KEY.slice(0, 4)}\ufeff${SECRET_KEY.slice(4)}`],
      ['userEmail', '\u200euser@example.com'],
    ] as const)(
      'refuses a %s with surrounding whitespace, a control or an invisible character, by name only',
      (name, value) => {
        // A secret read from a file keeps its trailing newline: it signs a string Alix never verifies.
        const error = constructionError({ [name]: value });
        expect(error.message).toContain(`${name} must not have leading or trailing whitespace or control characters`);
      },
    );

    it('accepts a userEmail whose IDN domain holds a zero-width non-joiner or joiner (Persian, Indic scripts)', () => {
      // IDNA2008 (CONTEXTJ) allows U+200C/U+200D in a label; the email is sent, never signed.
      for (const userEmail of ['user@\u0645\u06cc\u200c\u0647\u0627.ir', 'user@\u0915\u094d\u200d\u0937.in'])
        expect(new AlixAuthProvider(options({ userEmail })).identity.user).toBe(userEmail);
    });

    it('never gives two different partner/user pairs one session identity', () => {
      // The identity hashes the parts joined by newlines: a newline inside one must not move the border.
      const make = (partnerCode: string, userEmail: string): (() => string) => {
        return () => new AlixAuthProvider(options({ partnerCode, userEmail })).identity.id;
      };
      const ids = [make('acme\nuser', 'x@example.com'), make('acme', 'user\nx@example.com')].flatMap((id) => {
        try {
          return [id()];
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigurationError);
          return [];
        }
      });
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('ends with AbortedError when the signal fires while a body builder has not settled', async () => {
      const controller = new AbortController();
      const buildRefreshBody = ((): unknown => {
        controller.abort();
        return new Promise(() => undefined);
      }) as unknown as AlixAuthProviderOptions['buildRefreshBody'];
      const provider = new AlixAuthProvider(options({ buildRefreshBody }));
      await expect(provider.refresh('refresh-token-1', controller.signal)).rejects.toBeInstanceOf(AbortedError);
    });

    it('still accepts unicode and inner spaces in the end-user email and the secret key', () => {
      const provider = new AlixAuthProvider(options({ userEmail: 'zoë@exämple.com', secretKey: 'a b|c' }));
      expect(provider.identity.user).toBe('zoë@exämple.com');
    });
  });

  describe('identity', () => {
    const identityOf = (overrides: Partial<AlixAuthProviderOptions>) =>
      new AlixAuthProvider(options(overrides)).identity;

    it('gives each user a session of their own and the partner at one origin one breaker scope', () => {
      const jane = identityOf({ userEmail: 'jane@example.com' });
      const john = identityOf({ userEmail: 'john@example.com' });
      expect(john.id).not.toBe(jane.id);
      expect(john.scope).toBe(jane.scope);
      expect(identityOf({}).scope).toBe(jane.scope);
      expect(identityOf({ partnerCode: 'other' }).scope).not.toBe(jane.scope);
    });

    it('tells two auth origins apart, in the session and in the breaker scope', () => {
      const jane = identityOf({ userEmail: 'jane@example.com' });
      const staging = identityOf({ baseUrl: 'https://staging.alix.test', userEmail: 'jane@example.com' });
      expect(staging.id).not.toBe(jane.id);
      expect(staging.scope).not.toBe(jane.scope);
    });

    it.each([
      ['https://alix.test', 'alix.test:443'],
      ['https://alix.test:8443/api', 'alix.test:8443'],
      ['http://127.0.0.1', '127.0.0.1:80'],
    ])('names the endpoint of %s as %s', (baseUrl, endpoint) => {
      expect(identityOf({ baseUrl }).endpoint).toBe(endpoint);
    });
  });

  describe('secrets', () => {
    const secrets: Record<string, string> = {
      secretKey: SECRET_KEY,
      gatewayKey: GATEWAY_KEY,
      ...Object.fromEntries(
        [...pemBodyLines(keys.privatePem), ...pemBodyLines(smallKeys.privatePem), ...pemBodyLines(ecPem)].map(
          (line, i) => [`pem line ${i}`, line],
        ),
      ),
    };

    it('keeps every construction error free of the secret key and PEM bodies', () => {
      expect(errors.length).toBeGreaterThan(30);
      expect(findLeaks(errors, secrets)).toEqual([]);
    });
  });
});
