// Copied into a scratch project that installed the packed tarball: plain require()s.
const { assertMissingPeerError, subpaths, useFirst } = require('./expectations.cjs');

for (const { specifier, names, firstUse, missingPeer } of subpaths) {
  const api = require(specifier);
  const missing = names.filter((name) => api[name] === undefined);
  if (missing.length > 0) throw new Error(`CommonJS consumer of ${specifier} misses: ${missing.join(', ')}`);
  console.log(`cjs: ${specifier} has all ${names.length} expected exports`);
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
    console.log(`cjs: ${specifier}: ${firstUse}() works with its optional peer installed`);
  } else {
    assertMissingPeerError(failure, specifier, missingPeer);
    console.log(`cjs: ${specifier} loads without ${missingPeer}; ${firstUse}() throws ERR_ALIX_MISSING_PEER`);
  }
}
