// Copied into a scratch project that installed the packed tarball: plain require()s.
const expected = require('./expected-exports.json');

for (const [specifier, names] of Object.entries(expected)) {
  const api = require(specifier);
  const missing = names.filter((name) => api[name] === undefined);
  if (missing.length > 0) throw new Error(`CommonJS consumer of ${specifier} misses: ${missing.join(', ')}`);
  console.log(`cjs: ${specifier} has all ${names.length} expected exports`);
}
