#!/usr/bin/env bash
# Packs the library and proves that a CommonJS consumer (require) and an ESM consumer
# (import) of the tarball both load it and see the public API.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)
cd "$work"
npm init -y >/dev/null
# msw and ioredis are the optional peers that the /testing and /redis subpaths need.
peer() { node -p "require('$root/node_modules/$1/package.json').version"; }
npm install --silent --no-audit --no-fund "./$tarball" axios "msw@$(peer msw)" "ioredis@$(peer ioredis)" >/dev/null
cp "$root"/scripts/consumers/* .
node cjs-consumer.cjs
node esm-consumer.mjs
npx --no-install alix-token --help >/dev/null
echo "consumers: CommonJS and ESM both load the packed tarball; the alix-token bin runs"
