/** ESLint 8 legacy config (the design card names this file). */
module.exports = {
  root: true,
  parser: '@typescript-eslint/parser',
  parserOptions: { ecmaVersion: 2022, sourceType: 'module' },
  plugins: ['@typescript-eslint'],
  extends: ['eslint:recommended', 'plugin:@typescript-eslint/recommended'],
  env: { node: true, es2022: true },
  ignorePatterns: ['dist/', 'node_modules/', 'coverage/', '*.tgz', '.tmp/'],
  rules: {
    'no-console': 'error',
    '@typescript-eslint/consistent-type-imports': 'error',
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
  },
  overrides: [
    {
      // Prettier wraps code at 120 but leaves comments and long strings alone.
      files: ['src/**'],
      rules: { 'max-len': ['error', { code: 120 }] },
    },
    {
      files: ['src/cli/**', 'src/demo/**', 'benchmarks/**', 'scripts/**'],
      rules: { 'no-console': 'off' },
    },
    {
      files: ['__tests__/**'],
      env: { jest: true },
    },
    {
      files: ['*.cjs', '*.mjs', 'scripts/**/*.js', 'scripts/**/*.mjs', 'scripts/**/*.cjs'],
      rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-var-requires': 'off' },
    },
  ],
};
