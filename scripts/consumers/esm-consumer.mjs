// Copied into a scratch project that installed the packed tarball: a plain import.
import * as api from 'alix-token-manager';
import { createRequire } from 'node:module';

const expected = createRequire(import.meta.url)('./expected-exports.json');
const missing = expected.filter((name) => api[name] === undefined);
if (missing.length > 0) throw new Error(`ESM consumer misses: ${missing.join(', ')}`);
console.log(`esm: all ${expected.length} expected exports present`);
