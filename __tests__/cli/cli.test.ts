import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { printToken } from '../../src/cli/commands/token';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';
import { CLI, ROOT, runNode } from '../helpers/child';
import { startSandboxWithEnv } from '../helpers/sandbox-env';
import { collectingStream } from '../helpers/streams';

describe('alix-token CLI', () => {
  let sandbox: AlixSandbox;
  let env: Record<string, string>;
  let scratch: string;

  beforeAll(async () => {
    ({ sandbox, env, scratch } = await startSandboxWithEnv());
  });
  afterAll(() => sandbox.close());

  describe('token', () => {
    it('prints a valid access token', async () => {
      const result = await runNode([CLI, 'token'], env);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const response = await fetch(`${sandbox.url}/api/v2/cards`, { headers: { Authorization: `Bearer ${result.stdout.trim()}` } });
      expect(response.status).toBe(200);
    });

    it('prints the non-secret status as JSON with --status', async () => {
      const result = await runNode([CLI, 'token', '--status'], env);
      expect(result.code).toBe(0);
      const status = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(status).toMatchObject({ state: 'valid', refreshCount: 1, signInCount: 1 });
      expect(result.stdout).not.toMatch(/eyJ/);
    });

    it('exits 2 with one line naming the missing variables', async () => {
      const result = await runNode([CLI, 'token'], { ALIX_SECRET_KEY: 'secret-value' });
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('ALIX_BASE_URL');
      expect(result.stderr).not.toContain('secret-value');
    });

    it('exits 2 for an unreadable key file given by flag', async () => {
      const result = await runNode([CLI, 'token', '--private-key-file', path.join(scratch, 'missing.pem')], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('ERR_ALIX_CONFIGURATION');
    });

    it('exits 1 when the auth server rejects the credentials', async () => {
      const result = await runNode([CLI, 'token'], { ...env, ALIX_SECRET_KEY: 'wrong-secret' });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^alix-token: authenticate rejected: POST http:\/\/127\.0\.0\.1:\d+\/api\/v2\/auth\/access-token answered HTTP 400 with errorCode 12.*ALIX_SECRET_KEY.*\[ERR_ALIX_AUTH_REJECTED\]\n$/);
      expect(result.stderr).not.toContain('wrong-secret');
    });

    it('exits 1 when the auth server is unreachable', async () => {
      const closed = await startAlixSandbox({ privateKeyPem: sandbox.privateKeyPem });
      await closed.close();
      const result = await runNode([CLI, 'token'], { ...env, ALIX_BASE_URL: closed.url });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('ERR_ALIX_AUTH_UNAVAILABLE');
      expect(result.stderr).toContain(`could not reach the auth server at 127.0.0.1:${closed.port} (ECONNREFUSED)`);
    });

    it('gives up with exit 1 and a clear message when --timeout fires', async () => {
      const silent = await startSilentServer();
      try {
        const result = await runNode([CLI, 'token', '--timeout', '300'], { ...env, ALIX_BASE_URL: silent.url });
        expect(result.code).toBe(1);
        expect(result.stderr).toBe(`alix-token: no token within 300 ms (--timeout 300) from 127.0.0.1:${silent.port} [ERR_ALIX_ABORTED]\n`);
      } finally {
        await silent.close();
      }
    });

    it('exits 2 naming --timeout on a bad value', async () => {
      const result = await runNode([CLI, 'token', '--timeout', 'soon'], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--timeout must be a whole number');
    });

    it.each([
      ['a TTY', true, `signing in to 127.0.0.1:PORT…\r\x1b[2K`],
      ['a pipe', false, ''],
    ])('shows progress on stderr only on %s', async (_label, isTTY, expected) => {
      const stdout = collectingStream();
      const stderr = collectingStream();
      const code = await printToken({}, { env, stdout: stdout.stream, stderr: Object.assign(stderr.stream, { isTTY }) });
      expect(code).toBe(0);
      expect(stdout.text()).toMatch(/^eyJ\S+\n$/);
      expect(stderr.text()).toBe(expected.replace('PORT', String(sandbox.port)));
    });
  });

  describe('--version', () => {
    it('prints the version from package.json', async () => {
      const result = await runNode([CLI, '--version']);
      const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
      expect(result).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    });

    it('reads the package.json beside the installed files of a packed tarball', async () => {
      // Unpacked under the repository so the installed CLI still resolves commander & co.
      const install = freshTmp();
      try {
        const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', install], { cwd: ROOT, encoding: 'utf8' }).trim();
        const home = path.join(install, 'node_modules', 'alix-token-manager');
        mkdirSync(home, { recursive: true });
        execFileSync('tar', ['-xzf', path.join(install, tarball), '-C', home, '--strip-components=1']);
        const pkgFile = path.join(home, 'package.json');
        writeFileSync(pkgFile, JSON.stringify({ ...(JSON.parse(readFileSync(pkgFile, 'utf8')) as object), version: '0.0.0-packed-test' }));

        const result = await runNode([path.join(home, 'dist', 'cli.js'), '--version']);
        expect(result).toMatchObject({ code: 0, stdout: '0.0.0-packed-test\n' });
      } finally {
        rmSync(install, { recursive: true, force: true });
      }
    }, 60_000);
  });

  describe('doctor', () => {
    it('exits 0 with a JSON report when stdout is not a TTY', async () => {
      const result = await runNode([CLI, 'doctor'], env);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(result.stdout)).toMatchObject({ ok: true, exitCode: 0, failed: [] });
    });

    it('exits 1 naming the failed check', async () => {
      const result = await runNode([CLI, 'doctor'], { ...env, ALIX_SECRET_KEY: 'wrong-secret' });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe('alix-token doctor: failed: sign-in\n');
      expect(result.stdout).not.toContain('wrong-secret');
    });

    it('exits 2 on missing configuration', async () => {
      const result = await runNode([CLI, 'doctor']);
      expect(result.code).toBe(2);
      expect(result.stdout).toContain('ALIX_BASE_URL');
    });
  });

  describe('keygen', () => {
    it('writes a 2048-bit pair with a 0600 private key and prints the public key', async () => {
      const out = path.join(scratch, 'keys');
      const result = await runNode([CLI, 'keygen', '--out', out]);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----/);
      expect(statSync(path.join(out, 'alix-partner-private.pem')).mode & 0o777).toBe(0o600);
      expect(readFileSync(path.join(out, 'alix-partner-public.pem'), 'utf8')).toBe(result.stdout);
    });

    it('refuses to overwrite keys without --force', async () => {
      const out = path.join(scratch, 'twice');
      await runNode([CLI, 'keygen', '--out', out]);
      const again = await runNode([CLI, 'keygen', '--out', out]);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('--force');
      expect((await runNode([CLI, 'keygen', '--out', out, '--force'])).code).toBe(0);
    });
  });

  describe('sandbox', () => {
    it('serves until SIGTERM and prints what a client needs', async () => {
      const child = spawn(process.execPath, [CLI, 'sandbox', '--access-ttl', '30', '--key-dir', path.join(scratch, 'sandbox-keys')], { cwd: ROOT });
      let stdout = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /listening on (http:\/\/\S+)/.exec(stdout);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        child.on('error', reject);
      });
      expect(stdout).toContain('export ALIX_PRIVATE_KEY_FILE=');
      const keyFile = /ALIX_PRIVATE_KEY_FILE=(\S+)/.exec(stdout)?.[1] ?? '';
      const token = await runNode([CLI, 'token'], { ...env, ALIX_BASE_URL: url, ALIX_PRIVATE_KEY_FILE: keyFile });
      expect(token.code).toBe(0);
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    });

    it('exits 2 on a bad flag value', async () => {
      const result = await runNode([CLI, 'sandbox', '--port', 'abc']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--port');
    });

    it('names --port, not startAlixSandbox(), for a port out of range', async () => {
      const result = await runNode([CLI, 'sandbox', '--port', '70000']);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('alix-token: --port must be a whole number from 0 to 65535, got "70000" [ERR_ALIX_CONFIGURATION]\n');
    });

    it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('deletes its temporary key directory on %s', async (signal) => {
      const tmp = freshTmp();
      const child = spawn(process.execPath, [CLI, 'sandbox'], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp } });
      const { keyFile } = await sandboxStarted(child);
      expect(existsSync(keyFile)).toBe(true);
      expect(path.dirname(keyFile).startsWith(tmp)).toBe(true);

      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<[number | null, string | null]>((resolve) => child.on('close', (code, sig) => resolve([code, sig])));
      child.kill(signal);
      expect([await exited, stderr]).toEqual([[0, null], '']);
      expect(readdirSync(tmp)).toEqual([]);
    });

    it.each(['SIGTERM', 'SIGHUP'] as const)('deletes its temporary key directory on %s while the key pair is being made', async (signal) => {
      const tmp = freshTmp();
      // The key directory exists from before the key pair is generated (tens of ms for RSA 2048);
      // the signal goes out the moment it appears.
      const watcher = watch(tmp);
      const child = spawn(process.execPath, [CLI, 'sandbox'], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp } });
      watcher.once('change', () => child.kill(signal));
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

      const exited = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (code, sig) => resolve([code, sig])));
      watcher.close();

      expect([exited, output]).toEqual([[0, null], '']);
      expect(readdirSync(tmp)).toEqual([]);
    });

    it('deletes its temporary key directory when the start fails, and names --port', async () => {
      const tmp = freshTmp();
      const busy = await listenOnFreePort();
      try {
        const result = await runNode([CLI, 'sandbox', '--port', String(busy.port)], { TMPDIR: tmp });
        expect(result.code).toBe(2);
        expect(result.stderr).toContain(`--port ${busy.port}: 127.0.0.1:${busy.port} is already in use`);
        expect(result.stderr).not.toContain('startAlixSandbox');
        expect(readdirSync(tmp)).toEqual([]);
      } finally {
        await busy.close();
      }
    });

    it('stops and cleans up when the process that started it is killed', async () => {
      const tmp = freshTmp();
      // A parent (think npx) whose child, the sandbox, writes straight into our pipe: the pipe
      // closes only when the sandbox itself has exited.
      const parentScript = `require('node:child_process').spawn(process.execPath, [${JSON.stringify(CLI)}, 'sandbox'], { stdio: ['ignore', 'inherit', 'inherit'] }); setInterval(() => {}, 60000);`;
      const parent = spawn(process.execPath, ['-e', parentScript], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp } });
      let stderr = '';
      parent.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const { url, keyFile } = await sandboxStarted(parent);
      const sandboxGone = new Promise<void>((resolve) => parent.on('close', () => resolve()));

      parent.kill('SIGKILL');
      await sandboxGone;

      expect(stderr).toContain('the process that started it exited; stopping');
      expect(existsSync(keyFile)).toBe(false);
      expect(readdirSync(tmp)).toEqual([]);
      await expect(fetch(`${url}/api/v2/cards`)).rejects.toThrow();
    });
  });

  describe('demo', () => {
    it('runs end to end, recovers the revocation and exits 0', async () => {
      const result = await runNode([CLI, 'demo', '--duration', '6', '--concurrency', '3', '--json'], {}, 60_000);
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(summary).toMatchObject({ failures: 0, revocationRecovered: true, signIns: 1 });
      expect(summary.refreshes as number).toBeGreaterThanOrEqual(2);
      expect(summary.server401s as number).toBeGreaterThan(0);
      expect(summary.authFailures).toBe(3);
    });

    it('prints progress lines and a summary table when not on a TTY', async () => {
      const result = await runNode([CLI, 'demo', '--duration', '6', '--concurrency', '2'], {}, 60_000);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('server revoked all access tokens');
      // The phase's label clears once it is over.
      expect(result.stdout).toContain('<<< requests sent after the revocation succeed again');
      expect(result.stdout).toMatch(/\| revocation recovered\s+\| yes/);
    });

    it('runs many users on a pool with no cross-user token and exits 0 (--users)', async () => {
      const result = await runNode([CLI, 'demo', '--users', '20', '--duration', '4', '--json'], {}, 60_000);
      expect(result.code).toBe(0);
      const summary = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(summary).toMatchObject({
        mode: 'users',
        users: 20,
        sessions: 20,
        failures: 0,
        userMismatches: 0,
        unrecovered401s: 0,
        usersSeenBySandbox: 20,
        signInsPerUser: { min: 1, max: 1 },
        usersRecovered: 20,
        maxConcurrentAuth: 4,
        ok: true,
      });
      expect(summary.requests as number).toBeGreaterThan(20);
      expect(summary.server401s as number).toBeGreaterThan(0);
      expect(summary.authInFlightPeak as number).toBeLessThanOrEqual(4);
    });

    it('prints progress lines and a users summary table when not on a TTY (--users)', async () => {
      const result = await runNode([CLI, 'demo', '--users', '5', '--duration', '3', '--max-concurrent-auth', '2'], {}, 60_000);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/users 5 · sessions 5 · requests \d+/);
      expect(result.stdout).toMatch(/\| user mismatches \(403\)\s+\| 0 /);
      expect(result.stdout).toMatch(/\| peak concurrent auth calls\s+\| [12] \(max 2\)/);
      expect(result.stdout).toMatch(/\| result\s+\| ok /);
    });

    it('exits 2 on a bad --users value', async () => {
      const result = await runNode([CLI, 'demo', '--users', '0']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--users');
    });
  });

  describe('--help', () => {
    it.each(['token', 'sandbox', 'keygen', 'demo', 'doctor'])('explains %s and exits 0', async (command) => {
      const result = await runNode([CLI, command, '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Usage: alix-token ${command}`);
    });

    it('exits 2 on an unknown command', async () => {
      expect((await runNode([CLI, 'nope'])).code).toBe(2);
    });
  });
});

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh, empty directory to serve as a child's TMPDIR. */
function freshTmp(): string {
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(path.join(ROOT, '.tmp', 'tmpdir-'));
  tmpDirs.push(dir);
  return dir;
}

/** Waits for the sandbox banner on `child`'s stdout; returns its URL and key file. */
function sandboxStarted(child: ChildProcessWithoutNullStreams): Promise<{ url: string; keyFile: string }> {
  let stdout = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(stdout)?.[1];
      const keyFile = /ALIX_PRIVATE_KEY_FILE=(\S+)/.exec(stdout)?.[1];
      if (url !== undefined && keyFile !== undefined) resolve({ url, keyFile });
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

