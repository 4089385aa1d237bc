import { createPrivateKey } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { setUnrefInterval } from '../../clock';
import { ConfigurationError, assertConfig, errorCodeOf } from '../../errors';
import { DEFAULT_ALIX_SANDBOX_OPTIONS } from '../../sandbox/options';
import { startAlixSandbox, type AlixSandbox } from '../../sandbox/server';
import { ExitCodes, addNumberOptions, type CliIo, type RunAction } from '../io';
import { PARTNER_KEY_FILES, writePartnerKeyPair } from './keygen';

/** The parsed flags; `accessTtl` is in seconds. */
type SandboxFlags = { port: number; accessTtl: number; keyDir?: string };

/** The sandbox's key pair: its files, the private key, and what the banner says of them after their paths. */
type KeyPairFiles = { privateKeyPath: string; publicKeyPath: string; privateKeyPem: string; note: string };

/** How often the sandbox checks that the process that started it is still alive, in ms. */
export const PARENT_POLL_INTERVAL_MS = 500;

/**
 * The longest --access-ttl, in seconds: the refresh token's lifetime (180 days). An access token
 * that outlives its refresh token is no Alix session, and one dated years ahead is refused by the
 * client as a malformed answer (seconds mistaken for milliseconds), so the sandbox would be useless.
 */
const MAX_ACCESS_TTL_S = DEFAULT_ALIX_SANDBOX_OPTIONS.refreshTokenTtlMs / 1000;

/** Signals that stop the sandbox cleanly; SIGHUP arrives when its terminal closes. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** `alix-token sandbox`: the embedded Alix sandbox in the foreground, until Ctrl-C. */
export function registerSandboxCommand(program: Command, run: RunAction, io: CliIo): void {
  const command = program
    .command('sandbox')
    .description(
      'run the embedded Alix sandbox on loopback until interrupted (or until the process that started it exits)',
    );
  addNumberOptions(command, [
    ['--port <n>', 'port to listen on (0 picks a free one)', { min: 0, max: 65_535 }, 0],
    ['--access-ttl <seconds>', 'lifetime of issued access tokens', { min: 1, max: MAX_ACCESS_TTL_S }, 900],
  ])
    .option(
      '--key-dir <dir>',
      'where the partner key pair is: one already there is used, never overwritten; else a demo pair is written ' +
        '(default: a new temp dir, deleted on exit)',
    )
    .action((flags: SandboxFlags) => run(() => serveSandbox(flags, io)));
}

async function serveSandbox(flags: SandboxFlags, io: CliIo): Promise<number> {
  // An empty value is an unset variable in `--key-dir "$DIR"`, not the working directory: named, not an ENOENT.
  assertConfig(flags.keyDir?.trim() !== '', '--key-dir is empty');
  // Stop handlers before anything is written: a signal that arrives while the key pair is
  // being made must end up in the cleanup below, not kill the process around it.
  const stop = watchForStop(io.signals);
  // A directory we created holds a private key: it goes away however the process ends.
  // One the user named with --key-dir is theirs to keep.
  let tempDir: string | undefined;
  const removeSync = (): void => {
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  };
  process.once('exit', removeSync); // the last resort, e.g. when something calls process.exit()
  try {
    if (flags.keyDir === undefined) tempDir = await mkdtemp(path.join(os.tmpdir(), 'alix-sandbox-'));
    const keys =
      tempDir === undefined
        ? await keyPairIn(path.resolve(flags.keyDir as string)) // the banner's exports serve a shell elsewhere
        : { ...(await writePartnerKeyPair(tempDir, true)), note: ', deleted when the sandbox stops' };
    const sandbox = await listen(flags, keys.privateKeyPem);
    try {
      // A stop requested during start-up still wins; only a sandbox that stays up announces itself.
      if (stop.reason() === undefined) io.stdout.write(banner(sandbox, keys, flags.accessTtl));
      if ((await stop.stopped) === 'parent') {
        io.stderr.write('alix-token sandbox: the process that started it exited; stopping\n');
      }
    } finally {
      await sandbox.close();
    }
    return ExitCodes.OK;
  } finally {
    stop.dispose();
    removeSync();
    process.off('exit', removeSync);
  }
}

/**
 * The key pair in --key-dir: the one already there (an earlier run's, or a real partner key from `alix-token
 * keygen`, which must never be overwritten by a demo key), else a new demo pair.
 */
async function keyPairIn(dir: string): Promise<KeyPairFiles> {
  const [privateKeyPath, publicKeyPath] = PARTNER_KEY_FILES.map((name) => path.join(dir, name)) as [string, string];
  const privateKeyPem = await readFile(privateKeyPath, 'utf8').catch((error: unknown) => {
    if (errorCodeOf(error) === 'ENOENT') return undefined;
    throw new ConfigurationError(`--key-dir: cannot read ${privateKeyPath} (${errorCodeOf(error) ?? 'unreadable'})`);
  });
  if (privateKeyPem === undefined) {
    const exists = ` without ${PARTNER_KEY_FILES[0]} beside it; remove it or pick another --key-dir`;
    return { ...(await writePartnerKeyPair(dir, false, exists)), note: '' };
  }
  try {
    createPrivateKey(privateKeyPem);
  } catch {
    throw new ConfigurationError(`--key-dir: ${privateKeyPath} is not a PEM private key`);
  }
  return { privateKeyPath, publicKeyPath, privateKeyPem, note: ', already there: used as it is' };
}

/** What a client needs to use the running sandbox. */
function banner(sandbox: AlixSandbox, keys: KeyPairFiles, accessTtlSeconds: number): string {
  // A --key-dir may hold the private key alone (the public one is derived from it): name only files that are there.
  const keyFiles = [`${keys.privateKeyPath} (private)`];
  if (existsSync(keys.publicKeyPath)) keyFiles.push(`${keys.publicKeyPath} (public)`);
  return [
    `Alix sandbox listening on ${sandbox.url}`,
    `partner code: ${sandbox.partnerCode}`,
    `demo key pair: ${keyFiles.join(', ')}${keys.note}`,
    `access tokens live ${accessTtlSeconds} s`,
    '',
    'To use it from another shell:',
    `  export ALIX_BASE_URL=${shellQuoted(sandbox.url)}`,
    `  export ALIX_PARTNER_CODE=${shellQuoted(sandbox.partnerCode)}`,
    `  export ALIX_SECRET_KEY=${shellQuoted(sandbox.secretKey)}`,
    `  export ALIX_PRIVATE_KEY_FILE=${shellQuoted(keys.privateKeyPath)}`,
    '  npx alix-token token',
    '',
    'Ctrl-C stops it.',
    '',
  ].join('\n');
}

/** `value` as one POSIX shell word: a --key-dir or TMPDIR may hold a space, a `$` or a quote. */
function shellQuoted(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** Starts the sandbox; a port that cannot be bound is reported against the --port flag. */
async function listen({ port, accessTtl }: SandboxFlags, privateKeyPem: string): Promise<AlixSandbox> {
  return startAlixSandbox({ port, accessTokenTtlMs: accessTtl * 1000, privateKeyPem }).catch((error: unknown) => {
    const problems: Record<string, string> = {
      EADDRINUSE: `127.0.0.1:${port} is already in use; pick another port or 0 for a free one`,
      EACCES: `not allowed to listen on 127.0.0.1:${port}; use a port above 1023 or 0`,
    };
    const problem = problems[errorCodeOf(error) ?? ''];
    if (problem === undefined) throw error;
    throw new ConfigurationError(`--port ${port}: ${problem}`);
  });
}

/**
 * Watches for SIGINT, SIGTERM or SIGHUP on `signals`, for an IPC channel to the parent closing,
 * and for the parent process dying: `stopped` resolves with the first (and the handlers go),
 * `reason()` tells it so far, `dispose()` removes the handlers. A killed parent (say, `npx`
 * under a test runner) sends no signal: the child is re-parented, so `process.ppid` changes, or
 * the old parent pid stops existing.
 */
function watchForStop(signals: CliIo['signals']) {
  const parentPid = process.ppid;
  let reason: StopReason | undefined;
  let resolve!: (why: StopReason) => void; // set at once: a promise runs its executor synchronously
  const stopped = new Promise<StopReason>((settle) => (resolve = settle));
  const stop = (why: StopReason): void => {
    dispose();
    reason ??= why;
    resolve(why);
  };
  const onSignal = (): void => stop('signal');
  const onDisconnect = (): void => stop('parent');
  for (const signal of STOP_SIGNALS) signals.once(signal, onSignal);
  if (process.channel !== undefined) process.once('disconnect', onDisconnect);
  // The listening server keeps the process alive; this poll must not.
  const poll = (): boolean | void => isAlive(parentPid, process.ppid) || stop('parent');
  const stopPolling = setUnrefInterval(poll, PARENT_POLL_INTERVAL_MS);
  const dispose = (): void => {
    for (const signal of STOP_SIGNALS) signals.off(signal, onSignal);
    process.off('disconnect', onDisconnect);
    stopPolling();
  };
  return { stopped, reason: () => reason, dispose };
}

/** Why the sandbox stops: a signal, or the process that started it went away. */
type StopReason = 'signal' | 'parent';

/** Whether the original parent still is: same ppid, and the pid still exists. */
export function isAlive(originalParentPid: number, currentParentPid: number): boolean {
  if (currentParentPid !== originalParentPid) return false;
  try {
    process.kill(originalParentPid, 0);
    return true;
  } catch (error) {
    // EPERM: the pid exists but belongs to someone else, so it is alive.
    return errorCodeOf(error) === 'EPERM';
  }
}
