import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The `ACL SETUSER alix-token-manager …` line docs/scaling.md tells users to run, as written there, split into
 * words: tests run the store as that user, so a command the docs forget fails a test instead of a deployment.
 */
export function documentedAcl(): string[] {
  const docs = readFileSync(path.resolve(__dirname, '../../docs/scaling.md'), 'utf8');
  const line = /^ACL SETUSER alix-token-manager .*$/m.exec(docs)?.[0];
  if (line === undefined) throw new Error('docs/scaling.md has no ACL SETUSER alix-token-manager line');
  return line.split(' ');
}
