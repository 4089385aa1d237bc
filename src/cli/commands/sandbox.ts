import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { startAlixSandbox } from '../../sandbox/server';
import { ExitCodes } from '../exit-codes';
import { parseNumberFlag } from '../parse';
import { writePartnerKeyPair } from './keygen';

interface SandboxFlags {
  port: string;
  accessTtl: string;
  keyDir?: string;
}

/** `alix-token sandbox`: the embedded Alix sandbox in the foreground, until Ctrl-C. */
export function registerSandboxCommand(program: Command, run: (action: () => Promise<number>) => Promise<void>): void {
  program
    .command('sandbox')
    .description('run the embedded Alix sandbox on loopback until interrupted')
    .option('--port <n>', 'port to listen on (0 picks a free one)', '0')
    .option('--access-ttl <seconds>', 'lifetime of issued access tokens', '900')
    .option('--key-dir <dir>', 'where to write the demo partner key pair (default: a new temp dir)')
    .action((flags: SandboxFlags) => run(() => serveSandbox(flags)));
}

async function serveSandbox(flags: SandboxFlags): Promise<number> {
  const port = parseNumberFlag(flags.port, '--port', { integer: true, min: 0 });
  const accessTtlSeconds = parseNumberFlag(flags.accessTtl, '--access-ttl', { integer: true, min: 1 });
  const keyDir = flags.keyDir ?? (await mkdtemp(path.join(os.tmpdir(), 'alix-sandbox-')));
  const keys = await writePartnerKeyPair(keyDir, true);
  const sandbox = await startAlixSandbox({
    port,
    accessTokenTtlMs: accessTtlSeconds * 1000,
    privateKeyPem: await readFile(keys.privateKeyPath, 'utf8'),
  });
  process.stdout.write(
    [
      `Alix sandbox listening on ${sandbox.url}`,
      `partner code: ${sandbox.partnerCode}`,
      `demo key pair: ${keys.privateKeyPath} (private), ${keys.publicKeyPath} (public)`,
      `access tokens live ${accessTtlSeconds} s`,
      '',
      'To use it from another shell:',
      `  export ALIX_BASE_URL=${sandbox.url}`,
      `  export ALIX_PARTNER_CODE=${sandbox.partnerCode}`,
      `  export ALIX_SECRET_KEY=${sandbox.secretKey}`,
      `  export ALIX_PRIVATE_KEY_FILE=${keys.privateKeyPath}`,
      '  alix-token token',
      '',
      'Ctrl-C stops it.',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sandbox.close();
  return ExitCodes.OK;
}
