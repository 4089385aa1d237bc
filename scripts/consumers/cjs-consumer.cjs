// Copied into a scratch project that installed the packed tarball: plain require()s.
const subpaths = require('./expectations.cjs');

for (const { specifier, names, missingPeer } of subpaths) {
  if (missingPeer !== undefined) {
    let failure;
    try {
      require(specifier);
    } catch (error) {
      failure = error;
    }
    if (failure === undefined || !String(failure.message).includes(missingPeer)) {
      throw new Error(`CommonJS consumer of ${specifier} without ${missingPeer}: expected an error naming ${missingPeer}, got ${failure}`);
    }
    console.log(`cjs: ${specifier} without ${missingPeer} fails naming it`);
    continue;
  }
  const api = require(specifier);
  const missing = names.filter((name) => api[name] === undefined);
  if (missing.length > 0) throw new Error(`CommonJS consumer of ${specifier} misses: ${missing.join(', ')}`);
  console.log(`cjs: ${specifier} has all ${names.length} expected exports`);
}
