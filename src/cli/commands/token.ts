import type { Command } from 'commander';
import { AlixAuthProvider } from '../../providers/alix/provider';
import { readAlixEnvConfig } from '../../standalone/env-config';
import { TokenManager } from '../../token-manager';
import { ExitCodes } from '../exit-codes';

interface TokenFlags {
  status?: boolean;
  baseUrl?: string;
  partnerCode?: string;
  privateKeyFile?: string;
  userEmail?: string;
}

/** `alix-token token`: prints a valid access token (or, with --status, the session status). */
export function registerTokenCommand(program: Command, run: (action: () => Promise<number>) => Promise<void>): void {
  program
    .command('token')
    .description('print a valid access token using ALIX_* environment variables (flags override them)')
    .option('--status', 'print the non-secret session status as JSON instead of the token')
    .option('--base-url <url>', 'Alix API base URL (ALIX_BASE_URL)')
    .option('--partner-code <code>', 'partner code (ALIX_PARTNER_CODE)')
    .option('--private-key-file <path>', 'partner RSA private key, PEM file (ALIX_PRIVATE_KEY_FILE)')
    .option('--user-email <email>', 'end-user email for sign-in (ALIX_USER_EMAIL)')
    .addHelpText('after', '\nThe secret key is read only from ALIX_SECRET_KEY, never from a flag (flags show in ps).')
    .action((flags: TokenFlags) => run(() => printToken(flags)));
}

async function printToken(flags: TokenFlags): Promise<number> {
  const env = { ...process.env };
  if (flags.baseUrl !== undefined) env.ALIX_BASE_URL = flags.baseUrl;
  if (flags.partnerCode !== undefined) env.ALIX_PARTNER_CODE = flags.partnerCode;
  if (flags.userEmail !== undefined) env.ALIX_USER_EMAIL = flags.userEmail;
  if (flags.privateKeyFile !== undefined) {
    delete env.ALIX_PRIVATE_KEY;
    env.ALIX_PRIVATE_KEY_FILE = flags.privateKeyFile;
  }
  const config = readAlixEnvConfig(env);
  const manager = new TokenManager({ provider: new AlixAuthProvider(config.provider), initialTokens: config.initialTokens });
  try {
    const token = await manager.getAccessToken();
    process.stdout.write(flags.status === true ? `${JSON.stringify(manager.status(), null, 2)}\n` : `${token}\n`);
    return ExitCodes.OK;
  } finally {
    manager.close();
  }
}
