import { constants } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigurationError, errorCodeOf } from '../../errors';
import { generatePartnerKeyPair } from '../../sandbox/keys';
import { ExitCodes, type CliIo, type RunAction } from '../io';

/** The names of the key files `keygen` writes: the private key, then the public key. */
export const PARTNER_KEY_FILES = ['alix-partner-private.pem', 'alix-partner-public.pem'] as const;

/**
 * Writes a new 2048-bit partner key pair into `dir` (private key mode 0600) and returns it with the paths.
 * Without `overwrite`, an existing file is refused with `exists` (what to do about it) and nothing is left
 * written: a private key beside another pair's public key would be sent to Alix as a mismatched pair.
 */
export async function writePartnerKeyPair(dir: string, overwrite: boolean, exists = '; pass --force to overwrite it') {
  const pair = await generatePartnerKeyPair();
  // A path at or below a file (EEXIST, ENOTDIR) or an unwritable parent is bad configuration (exit 2),
  // not a raw fs error.
  await mkdir(dir, { recursive: true }).catch((error: unknown) => {
    throw new ConfigurationError(`cannot create the directory ${dir} (${errorCodeOf(error) ?? 'unwritable'})`);
  });
  const [privateKeyPath, publicKeyPath] = PARTNER_KEY_FILES.map((name) => path.join(dir, name)) as [string, string];
  await writeNew(privateKeyPath, pair.privateKeyPem, 0o600, overwrite, exists);
  await writeNew(publicKeyPath, pair.publicKeyPem, 0o644, overwrite, exists).catch(async (error: unknown) => {
    if (!overwrite) await rm(privateKeyPath, { force: true });
    throw error;
  });
  return { privateKeyPath, publicKeyPath, ...pair };
}

async function writeNew(file: string, content: string, mode: number, overwrite: boolean, exists: string) {
  const flags = constants.O_WRONLY | constants.O_CREAT | (overwrite ? constants.O_TRUNC : constants.O_EXCL);
  const handle = await open(file, flags, mode).catch((error: NodeJS.ErrnoException) => {
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
        const written = await writePartnerKeyPair(flags.out, flags.force === true);
        io.stderr.write(`private key: ${written.privateKeyPath} (keep it secret)\n`);
        io.stderr.write(`public key:  ${written.publicKeyPath} (send it to Alix)\n`);
        io.stdout.write(written.publicKeyPem);
        return ExitCodes.OK;
      }),
    );
}
