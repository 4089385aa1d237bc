import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runDoctor } from '../../src/cli/commands/doctor';
import { checkRedis } from '../../src/cli/doctor/checks';
import { hostAndPort, parseNumberFlag, reportError } from '../../src/cli/io';
import { isAlive } from '../../src/cli/commands/sandbox';
import { runAlixToken } from '../helpers/cli';
import { CLI, runNode } from '../helpers/child';
import { collectingStream } from '../helpers/streams';

describe('alix-token keygen --out that cannot be a directory', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'alix-cli-config-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 2 with a typed error naming the directory when it names a file, not a raw EEXIST (exit 1)', async () => {
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'x');
    const result = await runAlixToken(['keygen', '--out', file]);

    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(
      /^alix-token: cannot create the directory .*a-file \(EEXIST\) \[ERR_ALIX_CONFIGURATION\]\n$/,
    );
  });

  it('exits 2 when --out lies below a file (ENOTDIR)', async () => {
    const file = path.join(dir, 'b-file');
    writeFileSync(file, 'x');
    const result = await runAlixToken(['keygen', '--out', path.join(file, 'keys')]);

    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/cannot create the directory .* \(ENOTDIR\) \[ERR_ALIX_CONFIGURATION\]/);
  });

  // procfs answers ENOENT to a mkdir under an existing directory: Node's own recursive mkdir then retries for ever.
  (existsSync('/proc/self') ? it : it.skip)(
    'exits 2 naming --out under /proc, rather than spinning for ever',
    async () => {
      const result = await runNode([CLI, 'keygen', '--out', '/proc/alix-keys/out'], {}, 20_000);

      expect(result).toMatchObject({ code: 2, signal: null, stdout: '' });
      expect(result.stderr).toMatch(/^alix-token: cannot create the directory \/proc\/alix-keys\/out \(ENOENT\)/);
    },
    30_000,
  );
});

describe('alix-token keygen --out and sandbox --key-dir, empty (an unset variable in --out "$DIR")', () => {
  it.each([
    [['keygen', '--out', ''], /^alix-token: --out is empty \[ERR_ALIX_CONFIGURATION\]\n$/],
    [['sandbox', '--key-dir', ''], /^alix-token: --key-dir is empty \[ERR_ALIX_CONFIGURATION\]\n$/],
  ])('%j exits 2 naming the flag, not "cannot create the directory  (ENOENT)"', async (args, message) => {
    const result = await runAlixToken(args);

    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(message);
  });
});

describe('reportError (what runCli() prints for an error a command throws)', () => {
  it('prints a thrown non-Error as its string form, without a code, and exits 1', async () => {
    const { stream, text } = collectingStream();
    expect(reportError('boom', stream)).toBe(1);
    await new Promise(setImmediate);
    expect(text()).toBe('alix-token: boom\n');
  });
});

describe('isAlive (the sandbox stops when the process that started it is gone)', () => {
  it('is false once the parent changed or its pid no longer exists, true while it runs', () => {
    const gone = spawnSync(process.execPath, ['-e', '']).pid as number;
    expect([isAlive(process.pid, process.pid), isAlive(process.pid, 1), isAlive(gone, gone)]).toEqual([
      true,
      false,
      false,
    ]);
  });
});

describe('hostAndPort (messages about REDIS_URL and ALIX_BASE_URL)', () => {
  it('falls back for a URL without a host, rather than printing ":undefined"', () => {
    expect(hostAndPort('unix:///var/run/redis.sock', 'REDIS_URL')).toBe('REDIS_URL');
  });

  it("names the scheme's default port when the URL gives none, and never the user or password", () => {
    expect(hostAndPort('https://alix.example/api', 'the auth server')).toBe('alix.example:443');
    expect(hostAndPort('redis://user:hunter2@cache.internal', 'REDIS_URL')).toBe('cache.internal:6379');
  });
});

describe('parseNumberFlag (--port, --timeout, --access-ttl, the demo flags)', () => {
  it('accepts both bounds of the range', () => {
    expect(parseNumberFlag('0', '--port', { min: 0, max: 65_535 })).toBe(0);
    expect(parseNumberFlag('65535', '--port', { min: 0, max: 65_535 })).toBe(65_535);
  });

  it('refuses an empty or blank value (an unset variable in --port "$PORT"), which Number() reads as 0', () => {
    for (const value of ['', ' ']) {
      expect(() => parseNumberFlag(value, '--port', { min: 0, max: 65_535 })).toThrow(
        `--port must be a whole number from 0 to 65535, got "${value}"`,
      );
    }
  });

  it('refuses a fraction where a whole number is needed, naming the flag', () => {
    expect(() => parseNumberFlag('1.5', '--timeout', { min: 1 })).toThrow(
      '--timeout must be a whole number ≥ 1, got "1.5"',
    );
    expect(parseNumberFlag('1.5', '--duration', { fractions: true, min: 1 })).toBe(1.5);
  });
});

describe('alix-token doctor: a REDIS_URL whose password has a bad percent-escape', () => {
  // ioredis decodes the password with decodeURIComponent: a bare URIError "URI malformed", exit 1.
  it('is bad configuration (exit 2) naming REDIS_URL, never the password', async () => {
    const url = 'redis://:hunter2%zz@127.0.0.1:1';
    const checks = await checkRedis(url, async () => {
      decodeURIComponent('hunter2%zz');
      throw new Error('unreachable');
    });

    expect(checks).toEqual([
      expect.objectContaining({ name: 'redis', status: 'failed', errorCode: 'ERR_ALIX_CONFIGURATION' }),
    ]);
    expect(checks[0]?.detail).toContain('REDIS_URL');
    expect(JSON.stringify(checks)).not.toContain('hunter2');
  });
});

describe('alix-token doctor: Redis unreachable (real ioredis)', () => {
  it('says why the connection failed (ECONNREFUSED), not only "Connection is closed."', async () => {
    const output = collectingStream().stream;
    const report = await runDoctor({ env: { REDIS_URL: 'redis://:hunter2@127.0.0.1:1' }, output });
    const ping = report.checks.find((check) => check.name === 'redis ping');

    expect(ping).toMatchObject({ status: 'failed', detail: expect.stringContaining('ECONNREFUSED') });
    expect(ping?.detail).toMatch(/^127\.0\.0\.1:1: /);
    expect(JSON.stringify(report)).not.toContain('hunter2');
  });
});

describe('alix-token token: a bad value given by flag', () => {
  // Complete but for a key file that is never read: every error below comes before it.
  const env = {
    ALIX_BASE_URL: 'https://alix.example',
    ALIX_PARTNER_CODE: 'partner',
    ALIX_SECRET_KEY: 'secret-value',
    ALIX_PRIVATE_KEY_FILE: '/nonexistent/env-key.pem',
  };

  it.each([
    [['--partner-code', ''], /^alix-token: --partner-code is empty \[ERR_ALIX_CONFIGURATION\]\n$/],
    [['--base-url', 'not a url'], /^alix-token: --base-url: baseUrl is not an absolute URL \[ERR_ALIX_CONFIGURATION\]/],
    [['--partner-code', '"p"'], /^alix-token: --partner-code is wrapped in quotes/],
    [['--private-key-file', '/nonexistent/flag-key.pem'], /^alix-token: --private-key-file: privateKey file/],
    [['--user', ' '], /^alix-token: --user is empty \[ERR_ALIX_CONFIGURATION\]\n$/],
  ])('%j is reported against the flag, not its environment variable', async (args, message) => {
    const result = await runAlixToken(['token', ...args], { env });

    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\bALIX_/);
  });

  it('still names the variable when the bad value came from the environment', async () => {
    const result = await runAlixToken(['token', '--partner-code', 'p'], { env: { ...env, ALIX_BASE_URL: 'nope' } });

    expect(result.stderr).toMatch(/^alix-token: ALIX_BASE_URL: baseUrl is not an absolute URL/);
  });
});
