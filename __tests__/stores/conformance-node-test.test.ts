/**
 * The store conformance kit under another runner: `node --test` runs it from the built
 * `alix-token-manager/testing` entry with node:test's own describe and it, against a
 * MemoryTokenStore, as a user of another test runner would.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const dist = path.resolve(__dirname, '../../dist');

it('passes under node:test, with its describe and it passed in', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'alix-node-test-'));
  try {
    const file = path.join(scratch, 'store.test.mjs');
    writeFileSync(
      file,
      [
        "import { createRequire } from 'node:module';",
        "import { describe, it } from 'node:test';",
        `import { MemoryTokenStore } from ${JSON.stringify(path.join(dist, 'index.mjs'))};`,
        `import { describeTokenStoreConformance } from ${JSON.stringify(path.join(dist, 'testing.mjs'))};`,
        `const NodeCache = createRequire(${JSON.stringify(path.join(dist, '..', 'package.json'))})('node-cache');`,
        // The kit's stores share one backend, as two managers' stores share one cache.
        'const cache = new NodeCache({ useClones: false, checkperiod: 0 });',
        'cache.setMaxListeners(100);',
        'const create = () => new MemoryTokenStore({ cache, breaker: { openMs: 100 } });',
        "describeTokenStoreConformance('MemoryTokenStore', create, { describe, it });",
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['--test', file], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stdout).toMatch(/# pass [1-9]/);
    expect(run.stdout).toMatch(/# fail 0/);
    expect(run.status).toBe(0);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});
