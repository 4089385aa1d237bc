import { createPublicKey, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, open, realpath, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigurationError, assertConfig, errorCodeOf } from '../../errors';
import { generatePartnerKeyPair } from '../../sandbox/keys';
import { publicKeyFingerprint } from '../doctor/checks';
import { ExitCodes, type CliIo, type RunAction } from '../io';

/** The names of the key files `keygen` writes: the private key, then the public key. */
export const PARTNER_KEY_FILES = ['alix-partner-private.pem', 'alix-partner-public.pem'] as const;

/**
 * Writes a new 2048-bit partner key pair into `dir` (private key mode 0600) and returns it with the paths.
 * Without `overwrite`, an existing file is refused with `exists` (what to do about it) and nothing is left
 * written: a private key beside another pair's public key would be sent to Alix as a mismatched pair.
 * With it, both files are replaced or neither, for the same reason.
 */
export async function writePartnerKeyPair(dir: string, overwrite: boolean, exists = '; pass --force to overwrite it') {
  const pair = await generatePartnerKeyPair();
  // A path at or below a file (EEXIST, ENOTDIR) or an unwritable parent is bad configuration (exit 2),
  // not a raw fs error.
  await makeDirectory(dir).catch((error: unknown) => {
    throw new ConfigurationError(`cannot create the directory ${dir} (${errorCodeOf(error) ?? 'unwritable'})`);
  });
  const [privateKeyPath, publicKeyPath] = PARTNER_KEY_FILES.map((name) => path.join(dir, name)) as [string, string];
  if (overwrite) {
    await replacePair(privateKeyPath, pair.privateKeyPem, publicKeyPath, pair.publicKeyPem);
    return { privateKeyPath, publicKeyPath, ...pair };
  }
  await writeNew(privateKeyPath, pair.privateKeyPem, 0o600, exists);
  await writeNew(publicKeyPath, pair.publicKeyPem, 0o644, exists).catch(async (error: unknown) => {
    await rm(privateKeyPath, { force: true });
    throw error;
  });
  return { privateKeyPath, publicKeyPath, ...pair };
}

/**
 * Replaces both key files or neither: each is written to a temporary file beside it and renamed
 * into place, the public key first, from a copy of the old one put back if the private key's
 * rename fails. The copy is of the public key, so no spare copy of a secret is ever on disk.
 * A key path that is a symbolic link (into a secrets mount, say) stays one: the file it points at is replaced.
 */
async function replacePair(privateKeyPath: string, privatePem: string, publicKeyPath: string, publicPem: string) {
  const target = (file: string) => realpath(file).catch(() => file);
  const [privateTarget, publicTarget] = await Promise.all([target(privateKeyPath), target(publicKeyPath)]);
  const aside = (file: string, what: string) =>
    path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.${what}`);
  const privateTemp = aside(privateTarget, 'tmp');
  const publicTemp = aside(publicTarget, 'tmp');
  const publicBackup = aside(publicTarget, 'old');
  const cannot = (file: string) => (error: NodeJS.ErrnoException) => {
    throw new ConfigurationError(`cannot write ${file}: ${error.message}`);
  };
  try {
    await writeNew(privateTemp, privatePem, 0o600, '');
    await writeNew(publicTemp, publicPem, 0o644, '');
    const backedUp = await copyFile(publicKeyPath, publicBackup, constants.COPYFILE_EXCL).then(
      () => true,
      (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? false : cannot(publicKeyPath)(error)),
    );
    await rename(publicTemp, publicTarget).catch(cannot(publicKeyPath));
    await rename(privateTemp, privateTarget).catch(async (error: NodeJS.ErrnoException) => {
      await (backedUp ? rename(publicBackup, publicTarget) : rm(publicTarget, { force: true }));
      cannot(privateKeyPath)(error);
    });
  } finally {
    await Promise.all([privateTemp, publicTemp, publicBackup].map((file) => rm(file, { force: true })));
  }
}

/**
 * `mkdir -p dir`, but not Node's `recursive: true`, which retries for ever where a directory answers ENOENT
 * for a child it cannot hold (procfs: `--out /proc/x`): here a child's ENOENT once its parent exists is final.
 */
async function makeDirectory(dir: string, parentMade = false): Promise<void> {
  await mkdir(dir).catch(async (error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST' && (await stat(dir).catch(() => undefined))?.isDirectory()) return;
    if (error.code !== 'ENOENT' || parentMade || path.dirname(dir) === dir) throw error;
    await makeDirectory(path.dirname(dir));
    await makeDirectory(dir, true);
  });
}

/** Writes `file`, which must not exist yet (`exists` says what to do when it does). */
async function writeNew(file: string, content: string, mode: number, exists: string) {
  // 'wx' is O_CREAT | O_EXCL: an existing file fails with EEXIST.
  const handle = await open(file, 'wx', mode).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') throw new ConfigurationError(`${file} exists${exists}`);
    throw new ConfigurationError(`cannot write ${file}: ${error.message}`);
  });
  try {
    await handle.chmod(mode);
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
}

/** `alix-token keygen`: a partner key pair for onboarding. */
export function registerKeygenCommand(program: Command, run: RunAction, io: CliIo): void {
  program
    .command('keygen')
    .description('write a 2048-bit RSA partner key pair (PEM; private key mode 0600) and print the public key')
    .option('--out <dir>', 'directory to write the key files into', '.')
    .option('--force', 'overwrite existing key files')
    .action((flags: { out: string; force?: boolean }) =>
      run(async () => {
        assertConfig(flags.out.trim() !== '', '--out is empty');
        const written = await writePartnerKeyPair(flags.out, flags.force === true);
        io.stderr.write(`private key: ${written.privateKeyPath} (keep it secret)\n`);
        io.stderr.write(`public key:  ${written.publicKeyPath} (send it to Alix)\n`);
        const fingerprint = publicKeyFingerprint(createPublicKey(written.publicKeyPem));
        io.stderr.write(`fingerprint: ${fingerprint} (of the public key, as \`alix-token doctor\` prints it)\n`);
        io.stdout.write(written.publicKeyPem);
        return ExitCodes.OK;
      }),
    );
}
