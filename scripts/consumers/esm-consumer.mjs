// Copied into a scratch project that installed the packed tarball: plain imports.
import { createRequire } from 'node:module';

const expected = createRequire(import.meta.url)('./expected-exports.json');

for (const [specifier, names] of Object.entries(expected)) {
  const api = await import(specifier);
  const missing = names.filter((name) => api[name] === undefined);
  if (missing.length > 0) throw new Error(`ESM consumer of ${specifier} misses: ${missing.join(', ')}`);
  console.log(`esm: ${specifier} has all ${names.length} expected exports`);
}
