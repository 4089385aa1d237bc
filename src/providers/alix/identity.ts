/** The identity of an Alix session: whose tokens these are, without any secret. */
import { createHash } from 'node:crypto';
import type { ProviderIdentity } from '../types';

/**
 * Hashes the auth origin, the partner code and the user email into a stable id (the user
 * email is personal data, so it is never stored in the clear), the origin and the partner
 * code alone into the breaker's scope, and names the auth server's `host:port` for messages.
 */
export function alixIdentity(baseUrl: string, partnerCode: string, userEmail: string | undefined): ProviderIdentity {
  const url = new URL(baseUrl);
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  const id = digest(['alix', url.origin, partnerCode, userEmail ?? '']);
  const scope = digest(['alix', url.origin, partnerCode]);
  const endpoint = `${url.hostname}:${port}`;
  return Object.freeze(userEmail === undefined ? { id, scope, endpoint } : { id, scope, endpoint, user: userEmail });
}

function digest(parts: readonly string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}
