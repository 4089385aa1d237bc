// Copied into a scratch project that installed the packed tarball: plain imports.
import { createRequire } from 'node:module';

const subpaths = createRequire(import.meta.url)('./expectations.cjs');

for (const { specifier, names, missingPeer } of subpaths) {
  if (missingPeer !== undefined) {
    const failure = await import(specifier).then(() => undefined, (error) => error);
    if (failure === undefined || !String(failure.message).includes(missingPeer)) {
      throw new Error(`ESM consumer of ${specifier} without ${missingPeer}: expected an error naming ${missingPeer}, got ${failure}`);
    }
    console.log(`esm: ${specifier} without ${missingPeer} fails naming it`);
    continue;
  }
  const api = await import(specifier);
  const missing = names.filter((name) => api[name] === undefined);
  if (missing.length > 0) throw new Error(`ESM consumer of ${specifier} misses: ${missing.join(', ')}`);
  console.log(`esm: ${specifier} has all ${names.length} expected exports`);
}
