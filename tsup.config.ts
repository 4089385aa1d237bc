import { defineConfig } from 'tsup';

const entry = {
  index: 'src/index.ts',
  testing: 'src/sandbox/index.ts',
  // msw is an optional peer: its handlers have their own entry so /testing loads without it.
  'testing/msw': 'src/sandbox/msw-entry.ts',
  redis: 'src/redis.ts',
  otel: 'src/otel/index.ts',
  cli: 'src/cli/main.ts',
};

export default defineConfig({
  entry,
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: true,
  // Defines __filename/__dirname in the ESM build (from import.meta.url): optional peers are
  // loaded on first use with a require made from __filename (src/optional-peer.ts).
  shims: true,
  // Error classes take `name` from their class (`new.target.name`): keep it whatever the bundler wraps.
  keepNames: true,
  // p-retry is ESM-only; bundling it lets the CommonJS build run on every Node 20.x,
  // including those without require(esm).
  noExternal: ['p-retry', 'is-network-error'],
});
