// Copied into a scratch project that installed the packed tarball and some axios: the axios
// hook against the embedded sandbox (no msw needed), as a service would use it.
import assert from 'node:assert/strict';
import http from 'node:http';
import axios from 'axios';
import { AlixAuthProvider, TokenManager, attachTokenManager } from 'alix-token-manager';
import { startAlixSandbox } from 'alix-token-manager/testing';

/** Another origin (another port on 127.0.0.1) that records the Authorization header it gets. */
const seenElsewhere = [];
const other = http.createServer((req, res) => {
  seenElsewhere.push(req.headers.authorization ?? null);
  res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
});
await new Promise((resolve) => other.listen(0, '127.0.0.1', resolve));
const otherOrigin = `http://127.0.0.1:${other.address().port}`;

const sandbox = await startAlixSandbox({ accessTokenTtlMs: 60_000 });
const manager = new TokenManager({
  provider: new AlixAuthProvider({
    baseUrl: sandbox.baseUrl,
    partnerCode: sandbox.partnerCode,
    secretKey: sandbox.secretKey,
    privateKey: sandbox.privateKeyPem,
  }),
});
try {
  const api = axios.create({ baseURL: sandbox.baseUrl });
  // Registered before the hook, so axios runs it after ours: it must not carry the bearer away.
  api.interceptors.request.use((config) =>
    config.url === '/elsewhere' ? { ...config, baseURL: otherOrigin } : config,
  );
  attachTokenManager(api, manager);

  const first = await api.get('/api/v2/cards');
  assert.equal(first.status, 200, 'a request with the bearer');
  assert.match(String(first.config.headers.get('Authorization')), /^Bearer \S+$/);

  sandbox.revokeAccessTokens();
  const second = await api.get('/api/v2/cards');
  assert.equal(second.status, 200, 'the 401 replay');
  assert.equal(sandbox.counters().resource401s, 1);
  assert.equal(sandbox.counters().refresh, 1);

  await api.get(`${otherOrigin}/absolute`);
  await api.get('/elsewhere');
  assert.deepEqual(seenElsewhere, [null, null], 'no bearer to another origin');
  console.log(`sandbox: axios ${axios.VERSION}: bearer sent, 401 replayed once, no bearer cross-origin`);
} finally {
  manager.close();
  await sandbox.close();
  other.close();
}
