/**
 * `alix-token`, run in-process through runCli() (what main() runs) against the real sandbox.
 * Three tests start a real process, for what only a process shows: the installed bin's exit
 * code, and the sandbox stopping on a real signal and when its parent dies.
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import { PassThrough } from 'node:stream';
import path from 'node:path';
import { promisify } from 'node:util';
import { PARTNER_KEY_FILES } from '../../src/cli/commands/keygen';
import { printToken } from '../../src/cli/commands/token';
import { checkPrivateKey } from '../../src/cli/doctor/checks';
import { exitOnClosedPipe } from '../../src/cli/io';
import { TokenManager } from '../../src/manager/token-manager';
import { TokenManagerPool } from '../../src/pool/pool';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { startAlixSandbox } from '../../src/sandbox/server';
import { makeRsaKeyPair } from '../helpers/alix-keys';
import { CLI, ROOT, runNode } from '../helpers/child';
import { runAlixToken, startAlixToken } from '../helpers/cli';
import { useSandboxWithEnv } from '../helpers/sandbox-env';
import { collectingStream } from '../helpers/streams';

describe('alix-token CLI', () => {
  const alix = useSandboxWithEnv();

  describe('token', () => {
    it('prints a valid access token', async () => {
      const result = await runAlixToken(['token'], { env: alix.env });
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const authorization = `Bearer ${result.stdout.trim()}`;
      const response = await fetch(`${alix.sandbox.url}/api/v2/cards`, { headers: { Authorization: authorization } });
      expect(response.status).toBe(200);
    });

    it('prints the non-secret status as JSON with --status', async () => {
      const result = await runAlixToken(['token', '--status'], { env: alix.env });
      expect(result.code).toBe(0);
      const status = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(status).toMatchObject({ state: 'valid', refreshCount: 1, counts: { signIns: 1 } });
      expect(result.stdout).not.toMatch(/eyJ/);
    });

    it('exits 2 with one line naming the missing variables', async () => {
      const result = await runAlixToken(['token'], { env: { ALIX_SECRET_KEY: 'secret-value' } });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('ALIX_BASE_URL');
      expect(result.stderr).not.toContain('secret-value');
    });

    it('signs with the --private-key-file key over an ALIX_PRIVATE_KEY in the environment', async () => {
      const env = { ...alix.env, ALIX_PRIVATE_KEY: makeRsaKeyPair().privatePem };
      const result = await runAlixToken(['token', '--private-key-file', alix.env.ALIX_PRIVATE_KEY_FILE as string], {
        env,
      });
      expect(result).toMatchObject({ code: 0, stderr: '' });
    });

    it('closes the manager it built once the token is printed', async () => {
      const close = jest.spyOn(TokenManager.prototype, 'close');
      try {
        const code = await printToken(
          {},
          { env: alix.env, stdout: collectingStream().stream, stderr: collectingStream().stream },
        );
        expect(code).toBe(0);
        expect(close).toHaveBeenCalledTimes(1);
      } finally {
        close.mockRestore();
      }
    });

    it('exits 2 for an unreadable key file given by flag', async () => {
      const missing = path.join(alix.scratch, 'missing.pem');
      const result = await runAlixToken(['token', '--private-key-file', missing], { env: alix.env });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('ERR_ALIX_CONFIGURATION');
    });

    it('exits 1 when the auth server rejects the credentials', async () => {
      const result = await runAlixToken(['token'], { env: { ...alix.env, ALIX_SECRET_KEY: 'wrong-secret' } });
      expect(result.code).toBe(1);
      const rejected = new RegExp(
        String.raw`^alix-token: authenticate rejected: POST http://127\.0\.0\.1:\d+/api/v2/auth/access-token ` +
          String.raw`answered HTTP 400 with errorCode 12.*ALIX_SECRET_KEY.*\[ERR_ALIX_AUTH_REJECTED\]\n$`,
      );
      expect(result.stderr).toMatch(rejected);
      expect(result.stderr).not.toContain('wrong-secret');
    });

    it('exits 1 when the auth server is unreachable, after its retries', async () => {
      const closed = await startAlixSandbox({ privateKeyPem: alix.sandbox.privateKeyPem });
      await closed.close();
      // The retries' backoff (seconds) runs on fake timers; the refused connections are real.
      jest.useFakeTimers({ doNotFake: [...NOT_FAKED] });
      try {
        const env = { ...alix.env, ALIX_BASE_URL: closed.url };
        const result = await settledOnFakeTimers(runAlixToken(['token'], { env }));
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('ERR_ALIX_AUTH_UNAVAILABLE');
        expect(result.stderr).toContain(`could not reach the auth server at 127.0.0.1:${closed.port} (ECONNREFUSED)`);
      } finally {
        jest.useRealTimers();
      }
    });

    it('gives up with exit 1 and a clear message when --timeout fires', async () => {
      const silent = await startSilentServer();
      try {
        const env = { ...alix.env, ALIX_BASE_URL: silent.url };
        const result = await runAlixToken(['token', '--timeout', '100'], { env });
        expect(result.code).toBe(1);
        expect(result.stderr).toBe(
          `alix-token: no token within 100 ms (--timeout 100) from 127.0.0.1:${silent.port} [ERR_ALIX_ABORTED]\n`,
        );
      } finally {
        await silent.close();
      }
    });

    it('exits 2 naming --timeout on a bad value', async () => {
      const result = await runAlixToken(['token', '--timeout', 'soon'], { env: alix.env });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--timeout must be a whole number');
    });

    it.each(['3000000000', '99999999999'])(
      'exits 2 naming --timeout for %s ms, beyond what a timer can wait (never gives up at once)',
      async (timeout) => {
        const result = await runAlixToken(['token', '--timeout', timeout], { env: alix.env });
        expect(result).toMatchObject({ code: 2, stdout: '' });
        expect(result.stderr).toBe(
          `alix-token: --timeout must be a whole number from 1 to 2147483647, got "${timeout}" [ERR_ALIX_CONFIGURATION]\n`,
        );
      },
    );

    it.each([
      ['a TTY', true, `signing in to 127.0.0.1:PORT…\r\x1b[2K`],
      ['a pipe', false, ''],
    ])('shows progress on stderr only on %s', async (_label, isTTY, expected) => {
      const stdout = collectingStream();
      const stderr = collectingStream();
      const io = { env: alix.env, stdout: stdout.stream, stderr: Object.assign(stderr.stream, { isTTY }) };
      const code = await printToken({}, io);
      expect(code).toBe(0);
      expect(stdout.text()).toMatch(/^eyJ\S+\n$/);
      expect(stderr.text()).toBe(expected.replace('PORT', String(alix.sandbox.port)));
    });

    it("says it signs in for --user's session, which does not use ALIX_REFRESH_TOKEN", async () => {
      const stderr = collectingStream();
      const io = { env: { ...alix.env, ALIX_REFRESH_TOKEN: 'unused' }, stdout: collectingStream().stream };
      const code = await printToken(
        { user: 'ada@example.com' },
        { ...io, stderr: Object.assign(stderr.stream, { isTTY: true }) },
      );
      expect(code).toBe(0);
      expect(stderr.text()).toBe(`signing in to 127.0.0.1:${alix.sandbox.port}…\r\x1b[2K`);
    });

    it('lets an unexpected error out of --user as it is, not as bad configuration, and closes the pool', async () => {
      const close = jest.spyOn(TokenManagerPool.prototype, 'close');
      const bug = new TypeError('a bug');
      const get = jest.spyOn(TokenManagerPool.prototype, 'get').mockImplementation(() => {
        throw bug;
      });
      try {
        const io = { env: alix.env, stdout: collectingStream().stream, stderr: collectingStream().stream };
        await expect(printToken({ user: 'ada@example.com' }, io)).rejects.toBe(bug);
        expect(close).toHaveBeenCalledTimes(1);
      } finally {
        close.mockRestore();
        get.mockRestore();
      }
    });

    it('closes the pool it made when --user names no valid session key, and names the flag', async () => {
      const close = jest.spyOn(TokenManagerPool.prototype, 'close');
      try {
        const io = { env: alix.env, stdout: collectingStream().stream, stderr: collectingStream().stream };
        await expect(printToken({ user: 'x'.repeat(400) }, io)).rejects.toMatchObject({
          code: 'ERR_ALIX_CONFIGURATION',
          message: expect.stringMatching(/^--user: .*at most 320 characters, got a string of 400 characters$/),
        });
        expect(close).toHaveBeenCalledTimes(1);
      } finally {
        close.mockRestore();
      }
    });
  });

  describe('--version', () => {
    it('prints the version from package.json', async () => {
      const result = await runAlixToken(['--version']);
      const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
      expect(result).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    });

    it('reads the package.json beside the installed files, and exits 0 (a real process)', async () => {
      // Laid out as npm installs the package (package.json beside dist/), under the repository
      // so the installed CLI still resolves commander & co.
      const home = path.join(freshTmp(), 'node_modules', 'alix-token-manager');
      mkdirSync(home, { recursive: true });
      cpSync(path.join(ROOT, 'dist'), path.join(home, 'dist'), { recursive: true });
      const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as object;
      writeFileSync(path.join(home, 'package.json'), JSON.stringify({ ...pkg, version: '0.0.0-packed-test' }));

      const result = await runNode([path.join(home, 'dist', 'cli.js'), '--version']);
      expect(result).toMatchObject({ code: 0, signal: null, stdout: '0.0.0-packed-test\n', stderr: '' });
    });
  });

  describe('doctor', () => {
    it('exits 0 with a JSON report when stdout is not a TTY', async () => {
      const result = await runAlixToken(['doctor'], { env: alix.env });
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, exitCode: 0, failed: [] });
    });

    it('exits 1 naming the failed check', async () => {
      const result = await runAlixToken(['doctor'], { env: { ...alix.env, ALIX_SECRET_KEY: 'wrong-secret' } });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe('alix-token doctor: failed: sign-in\n');
      expect(result.stdout).not.toContain('wrong-secret');
    });

    it('exits 2 on missing configuration', async () => {
      const result = await runAlixToken(['doctor']);
      expect(result.code).toBe(2);
      expect(result.stdout).toContain('ALIX_BASE_URL');
    });
  });

  describe('keygen', () => {
    it('writes a 2048-bit pair with a 0600 private key and prints the public key', async () => {
      const out = path.join(alix.scratch, 'keys');
      const result = await runAlixToken(['keygen', '--out', out]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
      expect(result.stderr).toContain(`private key: ${path.join(out, 'alix-partner-private.pem')} (keep it secret)`);
      expect(statSync(path.join(out, 'alix-partner-private.pem')).mode & 0o777).toBe(0o600);
      expect(readFileSync(path.join(out, 'alix-partner-public.pem'), 'utf8')).toBe(result.stdout);
    });

    it('prints the public key fingerprint as doctor does, to compare with the key Alix holds without openssl', async () => {
      const out = path.join(alix.scratch, 'fingerprinted');
      const result = await runAlixToken(['keygen', '--out', out]);
      const der = createPublicKey(result.stdout).export({ type: 'spki', format: 'der' });
      const fingerprint = `sha256:${createHash('sha256').update(der).digest('hex')}`;
      const privateKey = createPrivateKey(readFileSync(path.join(out, 'alix-partner-private.pem')));

      expect(result.stderr).toContain(`\nfingerprint: ${fingerprint} `);
      expect(checkPrivateKey(privateKey).detail).toContain(`public key ${fingerprint}`);
    });

    it('refuses to overwrite keys without --force', async () => {
      const out = path.join(alix.scratch, 'twice');
      await runAlixToken(['keygen', '--out', out]);
      const again = await runAlixToken(['keygen', '--out', out]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('--force');
      expect((await runAlixToken(['keygen', '--out', out, '--force'])).code).toBe(0);
    });

    it('writes no private key when the public key file is already there (no mismatched pair is left)', async () => {
      const out = path.join(alix.scratch, 'public-only');
      mkdirSync(out, { recursive: true });
      writeFileSync(path.join(out, 'alix-partner-public.pem'), 'an older public key\n');

      const result = await runAlixToken(['keygen', '--out', out]);

      expect(result.code).toBe(2);
      expect(result.stderr).toContain('alix-partner-public.pem exists; pass --force to overwrite it');
      expect(readdirSync(out)).toEqual(['alix-partner-public.pem']);
    });

    it.each([
      ['keeps the old private key when the public key', 'alix-partner-public.pem', 'alix-partner-private.pem'],
      ['puts the old public key back when the private key', 'alix-partner-private.pem', 'alix-partner-public.pem'],
    ])('with --force, %s cannot be replaced', async (_what, blocked, kept) => {
      const out = path.join(alix.scratch, `force-${blocked}-blocked`);
      expect((await runAlixToken(['keygen', '--out', out])).code).toBe(0);
      const oldKey = readFileSync(path.join(out, kept), 'utf8');
      rmSync(path.join(out, blocked));
      mkdirSync(path.join(out, blocked, 'in-the-way'), { recursive: true });

      const result = await runAlixToken(['keygen', '--out', out, '--force']);

      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`cannot write ${path.join(out, blocked)}`);
      expect(readFileSync(path.join(out, kept), 'utf8')).toBe(oldKey);
      expect(readdirSync(out).sort()).toEqual(['alix-partner-private.pem', 'alix-partner-public.pem']);
    });

    // sysfs refuses a new file even to root: neither EEXIST nor a directory problem.
    (existsSync('/sys/kernel') ? it : it.skip)('exits 2 naming a key file it may not create', async () => {
      const result = await runAlixToken(['keygen', '--out', '/sys/kernel']);

      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^alix-token: cannot write \/sys\/kernel\/alix-partner-private\.pem: /);
    });

    it('with --force, writes no public key when there was none and the private key cannot be replaced', async () => {
      const out = path.join(alix.scratch, 'force-no-public');
      mkdirSync(path.join(out, 'alix-partner-private.pem', 'in-the-way'), { recursive: true });

      const result = await runAlixToken(['keygen', '--out', out, '--force']);

      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`cannot write ${path.join(out, 'alix-partner-private.pem')}`);
      expect(readdirSync(out)).toEqual(['alix-partner-private.pem']);
    });

    it('with --force, replaces the files symbolic links point at and keeps the links', async () => {
      const [out, secrets] = [path.join(alix.scratch, 'force-links'), path.join(alix.scratch, 'force-links-secrets')];
      expect((await runAlixToken(['keygen', '--out', secrets])).code).toBe(0);
      const oldPrivateKey = readFileSync(path.join(secrets, 'alix-partner-private.pem'), 'utf8');
      mkdirSync(out);
      for (const name of PARTNER_KEY_FILES) symlinkSync(path.join(secrets, name), path.join(out, name));

      const result = await runAlixToken(['keygen', '--out', out, '--force']);

      expect(result.code).toBe(0);
      expect(PARTNER_KEY_FILES.map((name) => lstatSync(path.join(out, name)).isSymbolicLink())).toEqual([true, true]);
      expect(readFileSync(path.join(secrets, 'alix-partner-public.pem'), 'utf8')).toBe(result.stdout);
      expect(readFileSync(path.join(secrets, 'alix-partner-private.pem'), 'utf8')).not.toBe(oldPrivateKey);
      expect(statSync(path.join(secrets, 'alix-partner-private.pem')).mode & 0o777).toBe(0o600);
      expect(readdirSync(secrets).sort()).toEqual(PARTNER_KEY_FILES);
    });

    it('with --force, restores the old public key behind its link if the private key cannot be replaced', async () => {
      const [out, secrets] = [
        path.join(alix.scratch, 'force-link-kept'),
        path.join(alix.scratch, 'force-link-secrets'),
      ];
      expect((await runAlixToken(['keygen', '--out', secrets])).code).toBe(0);
      const oldPublicKey = readFileSync(path.join(secrets, 'alix-partner-public.pem'), 'utf8');
      mkdirSync(path.join(out, 'alix-partner-private.pem', 'in-the-way'), { recursive: true });
      symlinkSync(path.join(secrets, 'alix-partner-public.pem'), path.join(out, 'alix-partner-public.pem'));

      expect((await runAlixToken(['keygen', '--out', out, '--force'])).code).toBe(2);
      expect(lstatSync(path.join(out, 'alix-partner-public.pem')).isSymbolicLink()).toBe(true);
      expect(readFileSync(path.join(secrets, 'alix-partner-public.pem'), 'utf8')).toBe(oldPublicKey);
      expect(readdirSync(secrets).sort()).toEqual(PARTNER_KEY_FILES);
    });

    it('with --force, replaces both keys with a new pair (the private key still 0600)', async () => {
      const out = path.join(alix.scratch, 'force-replaces');
      const first = await runAlixToken(['keygen', '--out', out]);
      const oldPrivateKey = readFileSync(path.join(out, 'alix-partner-private.pem'), 'utf8');

      const second = await runAlixToken(['keygen', '--out', out, '--force']);

      expect(second.code).toBe(0);
      expect(second.stdout).not.toBe(first.stdout);
      expect(readFileSync(path.join(out, 'alix-partner-public.pem'), 'utf8')).toBe(second.stdout);
      expect(readFileSync(path.join(out, 'alix-partner-private.pem'), 'utf8')).not.toBe(oldPrivateKey);
      expect(statSync(path.join(out, 'alix-partner-private.pem')).mode & 0o777).toBe(0o600);
      expect(readdirSync(out).sort()).toEqual(['alix-partner-private.pem', 'alix-partner-public.pem']);
    });
  });

  describe('sandbox', () => {
    it('serves until SIGTERM, prints what a client needs, deletes its temporary keys (a real process)', async () => {
      const tmp = freshTmp();
      const env = { ...process.env, TMPDIR: tmp };
      const child = spawn(process.execPath, [CLI, 'sandbox', '--access-ttl', '30'], { cwd: ROOT, env });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<[number | null, string | null]>((resolve) => {
        child.on('close', (code, sig) => resolve([code, sig]));
      });
      const { url, keyFile, banner } = await sandboxStarted(child);
      expect(banner).toContain('access tokens live 30 s');
      expect(path.dirname(keyFile).startsWith(tmp)).toBe(true);
      const token = await runAlixToken(['token'], {
        env: { ...alix.env, ALIX_BASE_URL: url, ALIX_PRIVATE_KEY_FILE: keyFile },
      });
      expect(token.code).toBe(0);

      child.kill('SIGTERM');

      expect([await exited, stderr]).toEqual([[0, null], '']);
      expect(readdirSync(tmp)).toEqual([]);
    });

    it('keeps a key pair written to --key-dir, and exits 0 when stopped', async () => {
      const keyDir = path.join(alix.scratch, 'sandbox-keys');
      const signals = new EventEmitter();
      const run = startAlixToken(['sandbox', '--key-dir', keyDir], { signals });
      const [, keyFile] = await run.stdoutMatch(/ALIX_PRIVATE_KEY_FILE='([^']+)'/);
      expect(keyFile).toBe(path.join(keyDir, 'alix-partner-private.pem'));

      signals.emit('SIGINT');

      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
      expect(readdirSync(keyDir).sort()).toEqual(['alix-partner-private.pem', 'alix-partner-public.pem']);
    });

    it('exports the key file as an absolute path when --key-dir is relative: the other shell may be elsewhere', async () => {
      const keyDir = path.join(alix.scratch, 'relative-keys');
      const signals = new EventEmitter();
      const run = startAlixToken(['sandbox', '--key-dir', path.relative(process.cwd(), keyDir)], { signals });
      const [, keyFile] = await run.stdoutMatch(/ALIX_PRIVATE_KEY_FILE='([^']+)'/);
      signals.emit('SIGINT');

      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
      expect(keyFile).toBe(path.join(keyDir, 'alix-partner-private.pem'));
    });

    it('quotes its exports for the shell: a --key-dir may hold a space, a $ or a quote', async () => {
      const keyDir = path.join(alix.scratch, "keys of $USER's");
      const signals = new EventEmitter();
      const run = startAlixToken(['sandbox', '--key-dir', keyDir], { signals });
      const [, url, exports] = await run.stdoutMatch(/listening on (\S+)[\s\S]*shell:\n([\s\S]*) {2}npx alix-token/);
      signals.emit('SIGINT');
      const print = 'printf "%s\\n" "$ALIX_PARTNER_CODE" "$ALIX_SECRET_KEY" "$ALIX_PRIVATE_KEY_FILE" "$ALIX_BASE_URL"';
      const { stdout } = await promisify(execFile)('sh', ['-c', `${exports}${print}`]);

      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
      const keyFile = path.join(keyDir, 'alix-partner-private.pem');
      expect(stdout).toBe(`sandbox-partner\nsandbox-secret\n${keyFile}\n${url}\n`);
    });

    it('issues access tokens that live --access-ttl seconds', async () => {
      const signals = new EventEmitter();
      const keyDir = path.join(alix.scratch, 'ttl-keys');
      const run = startAlixToken(['sandbox', '--access-ttl', '30', '--key-dir', keyDir], { signals });
      const [banner = ''] = await run.stdoutMatch(/Alix sandbox listening[\s\S]*Ctrl-C stops it/);
      const exported = (name: string): string => new RegExp(`export ${name}='([^']*)'`).exec(banner)?.[1] ?? '';
      // Through npx: a CLI installed in the project (not globally) is not on the PATH.
      expect(banner).toContain('\n  npx alix-token token\n');
      try {
        const tokens = await new AlixAuthProvider({
          baseUrl: exported('ALIX_BASE_URL'),
          partnerCode: exported('ALIX_PARTNER_CODE'),
          secretKey: exported('ALIX_SECRET_KEY'),
          privateKey: exported('ALIX_PRIVATE_KEY_FILE'),
        }).authenticate();
        // The server's Date header is rounded down to the second.
        const lifetimeMs = tokens.accessTokenExpiresAt - (tokens.serverTime ?? 0);
        expect(lifetimeMs).toBeGreaterThan(29_000);
        expect(lifetimeMs).toBeLessThanOrEqual(31_000);
      } finally {
        signals.emit('SIGINT');
      }
      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
    });

    it('uses a key pair already in --key-dir (a real one from keygen) and never overwrites it', async () => {
      const keyDir = path.join(alix.scratch, 'partner-keys');
      expect((await runAlixToken(['keygen', '--out', keyDir])).code).toBe(0);
      const privateKeyFile = path.join(keyDir, 'alix-partner-private.pem');
      const partnerKey = readFileSync(privateKeyFile, 'utf8');
      const signals = new EventEmitter();
      const run = startAlixToken(['sandbox', '--key-dir', keyDir], { signals });
      const [banner] = await run.stdoutMatch(/demo key pair: .*/);
      signals.emit('SIGINT');

      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
      expect(readFileSync(privateKeyFile, 'utf8')).toBe(partnerKey);
      expect(banner).toBe(
        `demo key pair: ${privateKeyFile} (private), ${path.join(keyDir, 'alix-partner-public.pem')} (public), ` +
          'already there: used as it is',
      );
    });

    it('names only the private key in the banner when --key-dir holds no public key', async () => {
      const keyDir = path.join(alix.scratch, 'private-key-only');
      expect((await runAlixToken(['keygen', '--out', keyDir])).code).toBe(0);
      rmSync(path.join(keyDir, 'alix-partner-public.pem'));
      const signals = new EventEmitter();
      const run = startAlixToken(['sandbox', '--key-dir', keyDir], { signals });
      const [banner] = await run.stdoutMatch(/demo key pair: .*/);
      signals.emit('SIGINT');

      expect(await run.result).toMatchObject({ code: 0, stderr: '' });
      expect(banner).toBe(
        `demo key pair: ${path.join(keyDir, 'alix-partner-private.pem')} (private), already there: used as it is`,
      );
      expect(readdirSync(keyDir)).toEqual(['alix-partner-private.pem']);
    });

    it('refuses a file in --key-dir that is not a private key, naming it, and leaves it as it is', async () => {
      const keyDir = path.join(alix.scratch, 'not-a-key');
      const privateKeyFile = path.join(keyDir, 'alix-partner-private.pem');
      mkdirSync(keyDir, { recursive: true });
      writeFileSync(privateKeyFile, 'not a key\n');

      const result = await runAlixToken(['sandbox', '--key-dir', keyDir]);

      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toBe(
        `alix-token: --key-dir: ${privateKeyFile} is not a PEM private key [ERR_ALIX_CONFIGURATION]\n`,
      );
      expect(readFileSync(privateKeyFile, 'utf8')).toBe('not a key\n');
    });

    it('refuses a private key in --key-dir it cannot read, naming it and why', async () => {
      const keyDir = path.join(alix.scratch, 'unreadable-key');
      const privateKeyFile = path.join(keyDir, 'alix-partner-private.pem');
      mkdirSync(privateKeyFile, { recursive: true });

      const result = await runAlixToken(['sandbox', '--key-dir', keyDir]);

      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toBe(
        `alix-token: --key-dir: cannot read ${privateKeyFile} (EISDIR) [ERR_ALIX_CONFIGURATION]\n`,
      );
    });

    it('refuses a --key-dir that holds a public key without its private key, with a fix the command has', async () => {
      const keyDir = path.join(alix.scratch, 'public-key-only');
      const publicKeyFile = path.join(keyDir, 'alix-partner-public.pem');
      mkdirSync(keyDir, { recursive: true });
      writeFileSync(publicKeyFile, 'an older public key\n');

      const result = await runAlixToken(['sandbox', '--key-dir', keyDir]);

      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toBe(
        `alix-token: ${publicKeyFile} exists without alix-partner-private.pem beside it; ` +
          'remove it or pick another --key-dir [ERR_ALIX_CONFIGURATION]\n',
      );
      expect(readdirSync(keyDir)).toEqual(['alix-partner-public.pem']);
    });

    it('exits 2 on a bad flag value', async () => {
      const result = await runAlixToken(['sandbox', '--port', 'abc']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--port');
    });

    it("exits 2 naming --access-ttl for a lifetime past the refresh token's, which clients refuse as malformed", async () => {
      const result = await runAlixToken(['sandbox', '--access-ttl', '100000000000000000000']);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toContain(
        '--access-ttl must be a whole number from 1 to 15552000, got "100000000000000000000"',
      );
    });

    it('names --port, not startAlixSandbox(), for a port out of range', async () => {
      const result = await runAlixToken(['sandbox', '--port', '70000']);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        'alix-token: --port must be a whole number from 0 to 65535, got "70000" [ERR_ALIX_CONFIGURATION]\n',
      );
    });

    it.each(['SIGINT', 'SIGHUP'] as const)('deletes its temporary key directory on %s', async (signal) => {
      const tmp = freshTmp();
      const signals = new EventEmitter();
      const result = await withTmpdir(tmp, async () => {
        const run = startAlixToken(['sandbox'], { signals });
        const [, keyFile = ''] = await run.stdoutMatch(/ALIX_PRIVATE_KEY_FILE='([^']+)'/);
        expect(existsSync(keyFile)).toBe(true);
        expect(path.dirname(keyFile).startsWith(tmp)).toBe(true);

        signals.emit(signal);
        return run.result;
      });

      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(readdirSync(tmp)).toEqual([]);
    });

    const whileKeysAreMade = 'deletes its temporary key directory on %s while the key pair is being made';
    it.each(['SIGTERM', 'SIGHUP'] as const)(whileKeysAreMade, async (signal) => {
      const tmp = freshTmp();
      const signals = new EventEmitter();
      // The key directory exists from before the key pair is generated (tens of ms for RSA 2048);
      // the signal goes out the moment it appears.
      const watcher = watch(tmp);
      watcher.once('change', () => signals.emit(signal));
      try {
        const result = await withTmpdir(tmp, () => runAlixToken(['sandbox'], { signals }));
        expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
      } finally {
        watcher.close();
      }
      expect(readdirSync(tmp)).toEqual([]);
    });

    it('deletes its temporary key directory when the start fails, and names --port', async () => {
      const tmp = freshTmp();
      const busy = await listenOnFreePort();
      try {
        const result = await withTmpdir(tmp, () => runAlixToken(['sandbox', '--port', String(busy.port)]));
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(`--port ${busy.port}: 127.0.0.1:${busy.port} is already in use`);
        expect(result.stderr).not.toContain('startAlixSandbox');
        expect(readdirSync(tmp)).toEqual([]);
      } finally {
        await busy.close();
      }
    });

    it('stops and cleans up when the process that started it is killed (a real process)', async () => {
      const tmp = freshTmp();
      // A parent (think npx) whose child, the sandbox, writes straight into our pipe: the pipe
      // closes only when the sandbox itself has exited.
      const parentScript =
        `require('node:child_process').spawn(process.execPath, [${JSON.stringify(CLI)}, 'sandbox'], ` +
        `{ stdio: ['ignore', 'inherit', 'inherit'] }); setInterval(() => {}, 60000);`;
      const parent = spawn(process.execPath, ['-e', parentScript], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp } });
      let stderr = '';
      parent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const sandboxGone = new Promise<void>((resolve) => parent.on('close', () => resolve()));
      const { url, keyFile } = await sandboxStarted(parent);

      parent.kill('SIGKILL');
      await sandboxGone;

      expect(stderr).toContain('the process that started it exited; stopping');
      expect(existsSync(keyFile)).toBe(false);
      expect(readdirSync(tmp)).toEqual([]);
      await expect(fetch(`${url}/api/v2/cards`)).rejects.toThrow();
    });
  });

  describe('--help', () => {
    it.each(['token', 'sandbox', 'keygen', 'demo', 'doctor'])('explains %s and exits 0', async (command) => {
      const result = await runAlixToken([command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: alix-token ${command}`);
    });

    it('exits 1 quietly when its output pipe is closed (EPIPE, `alix-token --help | true`; a real process)', async () => {
      const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ALIX_')));
      const child = spawn(process.execPath, [CLI, '--help'], { cwd: ROOT, env: base });
      child.stdout.destroy(); // the reader is gone before the CLI writes a byte
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
      expect({ code, signal, stderr }).toEqual({ code: 1, signal: null, stderr: '' });
    });

    it('ends on EPIPE through exitOnClosedPipe(), and leaves other write errors alone', () => {
      const stream = new PassThrough();
      const exit = jest.fn();
      exitOnClosedPipe(stream, exit);
      stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      expect(exit).toHaveBeenCalledWith(1);
      expect(() => stream.emit('error', Object.assign(new Error('disk full'), { code: 'ENOSPC' }))).toThrow(
        'disk full',
      );
    });

    it('exits 2 on an unknown command', async () => {
      const result = await runAlixToken(['nope']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("unknown command 'nope'");
    });
  });
});

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh, empty directory to serve as TMPDIR, under the repository (not the temp directory). */
function freshTmp(): string {
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(path.join(ROOT, '.tmp', 'tmpdir-'));
  tmpDirs.push(dir);
  return dir;
}

/** Runs `body` with `dir` as the temp directory (os.tmpdir(), which reads the real TMPDIR). */
async function withTmpdir<T>(dir: string, body: () => Promise<T>): Promise<T> {
  const tmpdir = jest.spyOn(os, 'tmpdir').mockReturnValue(dir);
  try {
    return await body();
  } finally {
    tmpdir.mockRestore();
  }
}

/** What stays real while a retry backoff runs on fake timers: only Date, setTimeout and clearTimeout are faked. */
const NOT_FAKED = [
  'nextTick',
  'setImmediate',
  'clearImmediate',
  'queueMicrotask',
  'performance',
  'hrtime',
  'setInterval',
  'clearInterval',
] as const;

/** Advances fake timers, letting real I/O run between steps, until `work` settles. */
async function settledOnFakeTimers<T>(work: Promise<T>): Promise<T> {
  let settled = false;
  void work.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let step = 0; step < 10_000 && !settled; step += 1) {
    await new Promise((resolve) => setImmediate(resolve));
    jest.advanceTimersByTime(100);
  }
  return work;
}

/** Waits for the sandbox banner on `child`'s stdout; returns its URL, key file and the banner. */
function sandboxStarted(
  child: ChildProcessWithoutNullStreams,
): Promise<{ url: string; keyFile: string; banner: string }> {
  let stdout = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      const keyFile = /ALIX_PRIVATE_KEY_FILE='([^']+)'/.exec(stdout)?.[1];
      if (url !== undefined && keyFile !== undefined) resolve({ url, keyFile, banner: stdout });
    });
    child.on('error', reject);
    child.on('close', (code) => reject(new Error(`exited (${code}) before listening: ${stdout}`)));
  });
}

/** A loopback TCP server that accepts connections and never answers (a hung auth server). */
async function startSilentServer(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listenOn(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port held by another server, for a failed start. */
async function listenOnFreePort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer();
  const port = await listenOn(server);
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function listenOn(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });
}
