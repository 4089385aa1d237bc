'use strict';
/**
 * One replica for the multi-process Redis tests, run with child_process.fork(): a
 * TokenManager on a RedisTokenStore, loaded from the built library (ALIX_DIST_DIR), whose
 * provider calls the parent's counting auth server (AUTH_URL). The parent sends
 * `{ type: 'start', durationMs }`; the replica calls getAccessToken() in a loop for that
 * long and answers `{ type: 'done', calls, failures, tokens, refreshCount }`.
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

const provider = {
  authenticate: (signal) => callAuthServer('authenticate', {}, signal),
  refresh: (refreshToken, signal) => callAuthServer('refresh', { refreshToken }, signal),
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const client = new Redis(env.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => undefined);
  await client.connect();
  const store = new RedisTokenStore({ client, key: env.SESSION_KEY, lockTtlMs: 2_000, lockWaitMs: 3_000, pollIntervalMs: 50 });
  const manager = new TokenManager({
    provider,
    store,
    refreshJitterMs: 0,
    refreshBeforeExpiryMs: Number(env.REFRESH_BEFORE_EXPIRY_MS),
    expirySkewMs: Number(env.EXPIRY_SKEW_MS),
    retry: { retries: 0 },
  });

  process.once('message', async (message) => {
    const until = Date.now() + message.durationMs;
    const tokens = new Set();
    const failures = [];
    let calls = 0;
    while (Date.now() < until) {
      calls += 1;
      try {
        tokens.add(await manager.getAccessToken());
      } catch (error) {
        failures.push(`${error.name}: ${error.message}`);
      }
      await sleep(10 + Math.random() * 10);
    }
    const { refreshCount } = manager.status();
    manager.close();
    await store.close();
    await client.quit();
    process.send({ type: 'done', calls, failures, tokens: [...tokens], refreshCount }, () => process.exit(0));
  });
  process.send({ type: 'ready' });
}

main().catch((error) => {
  process.send({ type: 'crashed', message: String(error && error.stack) }, () => process.exit(1));
});
