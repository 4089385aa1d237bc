// Copied into a scratch project that installed the packed tarball: a plain require().
const api = require('alix-token-manager');
const expected = require('./expected-exports.json');
const missing = expected.filter((name) => api[name] === undefined);
if (missing.length > 0) throw new Error(`CommonJS consumer misses: ${missing.join(', ')}`);
console.log(`cjs: all ${expected.length} expected exports present`);
