/**
 * Jest runs in CommonJS mode; the ESM-only dependencies (p-retry and msw's helpers)
 * are transformed by @swc/jest instead of being ignored.
 */
const esmOnly = [
  'p-retry',
  'is-network-error',
  'rettime',
  '@open-draft/deferred-promise',
  'until-async',
].join('|');

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
};
