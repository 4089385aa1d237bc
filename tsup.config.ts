import { existsSync } from 'node:fs';
import { defineConfig } from 'tsup';

const entry: Record<string, string> = {
  index: 'src/index.ts',
  testing: 'src/sandbox/index.ts',
  cli: 'src/cli/main.ts',
};
if (existsSync('src/redis.ts')) entry.redis = 'src/redis.ts';

export default defineConfig({
  entry,
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: true,
  // p-retry is ESM-only; bundling it lets the CommonJS build run on every Node 20.x,
  // including those without require(esm).
  noExternal: ['p-retry', 'is-network-error'],
});
