// Copied into a scratch project that installed the packed tarball: plain imports.
import { createRequire } from 'node:module';

const { assertMissingPeerError, subpaths, useFirst } = createRequire(import.meta.url)('./expectations.cjs');

for (const { specifier, names, firstUse, missingPeer } of subpaths) {
  const api = await import(specifier);
  const missing = names.filter((name) => api[name] === undefined);
  if (missing.length > 0) throw new Error(`ESM consumer of ${specifier} misses: ${missing.join(', ')}`);
  console.log(`esm: ${specifier} has all ${names.length} expected exports`);
  if (firstUse === undefined) continue;
  let failure;
  try {
    const used = useFirst(api, firstUse);
    used?.uninstrument?.();
  } catch (error) {
    failure = error;
  }
  if (missingPeer === undefined) {
    if (failure !== undefined) throw failure;
    console.log(`esm: ${specifier}: ${firstUse}() works with its optional peer installed`);
  } else {
    assertMissingPeerError(failure, specifier, missingPeer);
    console.log(`esm: ${specifier} loads without ${missingPeer}; ${firstUse}() throws ERR_ALIX_MISSING_PEER`);
  }
}

// With msw installed, the handlers (msw loaded on first use) serve an ESM msw server.
if (subpaths.some(({ specifier, missingPeer }) => specifier.endsWith('/testing/msw') && missingPeer === undefined)) {
  const { setupServer } = await import('msw/node');
  const { alixHandlers } = await import('alix-token-manager/testing/msw');
  const server = setupServer(...alixHandlers({ baseUrl: 'https://alix.consumer.test' }));
  server.listen({ onUnhandledRequest: 'error' });
  try {
    const response = await fetch('https://alix.consumer.test/api/v2/cards');
    if (response.status !== 401)
      throw new Error(`msw handlers in ESM: GET /api/v2/cards without a bearer answered ${response.status}`);
  } finally {
    server.close();
  }
  console.log('esm: alixHandlers() serve an msw/node server (401 without a bearer)');
}
