/**
 * Jest runs in CommonJS mode; the ESM-only dependencies (p-retry and msw's helpers)
 * are transformed by @swc/jest instead of being ignored.
 */
const os = require('node:os');

const esmOnly = ['p-retry', 'is-network-error', 'rettime', '@open-draft/deferred-promise', 'until-async'].join('|');

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j|mj)sx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  testTimeout: 20000,
  // One worker per core, not jest's cores − 1 (in band on 2 cores): much of the suite waits on
  // redis-server, the sentinel's failover and the sandbox rather than on the CPU.
  maxWorkers: os.availableParallelism(),
  // Removes the run's once-per-run marker files from the temp directory, passed or failed.
  globalTeardown: '<rootDir>/__tests__/helpers/global-teardown.ts',
};
