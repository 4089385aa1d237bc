'use strict';
/**
 * One replica for the multi-process Redis tests, run with child_process.fork(): one
 * RedisTokenStore (on a client used straight after it is created, as docs/scaling.md shows)
 * serving a TokenManager per identity in IDENTITIES (comma-separated), loaded from the
 * built library (ALIX_DIST_DIR), whose providers call the parent's counting auth server
 * (AUTH_URL). The parent sends `{ type: 'start', durationMs }`; the replica calls
 * getAccessToken() on every manager in a loop for that long and answers
 * `{ type: 'done', calls, failures, tokens, refreshCount }`.
 */
const path = require('node:path');
const Redis = require('ioredis');

const env = process.env;
const { TokenManager } = require(path.join(env.ALIX_DIST_DIR, 'index.js'));
const { RedisTokenStore } = require(path.join(env.ALIX_DIST_DIR, 'redis.js'));

async function callAuthServer(kind, body, signal) {
  const response = await fetch(`${env.AUTH_URL}/${kind}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${kind} → ${response.status}: ${json.message}`);
  return json;
}

function providerFor(identity) {
  return {
    identity: { id: identity },
    authenticate: (signal) => callAuthServer('authenticate', { identity }, signal),
    refresh: (refreshToken, signal) => callAuthServer('refresh', { identity, refreshToken }, signal),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  // No await on the connection: the store waits for it (issue 11).
  const client = new Redis(env.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  const store = new RedisTokenStore({ client, lockTtlMs: 2_000, lockWaitMs: 3_000, pollIntervalMs: 50 });
  const managers = env.IDENTITIES.split(',').map(
    (identity) =>
      new TokenManager({
        provider: providerFor(identity),
        store,
        refreshJitterMs: 0,
        refreshBeforeExpiryMs: Number(env.REFRESH_BEFORE_EXPIRY_MS),
        expirySkewMs: Number(env.EXPIRY_SKEW_MS),
        retry: { retries: 0 },
      }),
  );

  process.once('message', async (message) => {
    const until = Date.now() + message.durationMs;
    const tokens = new Set();
    const failures = [];
    let calls = 0;
    while (Date.now() < until) {
      await Promise.all(
        managers.map(async (manager) => {
          calls += 1;
          try {
            tokens.add(await manager.getAccessToken());
          } catch (error) {
            failures.push(`${error.name}: ${error.message}`);
          }
        }),
      );
      await sleep(10 + Math.random() * 10);
    }
    // A refresh the last calls started in the background may still be in flight (slow on a loaded machine): let it
    // land, so that every auth call this replica made is in its refreshCount (and its rotated token is stored).
    await Promise.all(managers.map((manager) => manager.close({ drainMs: 10_000 })));
    const refreshCount = managers.reduce((sum, manager) => sum + manager.status().refreshCount, 0);
    await store.close();
    await client.quit();
    process.send({ type: 'done', calls, failures, tokens: [...tokens], refreshCount }, () => process.exit(0));
  });
  process.send({ type: 'ready' });
}

main().catch((error) => {
  process.send({ type: 'crashed', message: String(error && error.stack) }, () => process.exit(1));
});
