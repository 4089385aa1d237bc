#!/usr/bin/env bash
# Packs the library (run `npm run build` first) and installs the tarball into two empty projects:
#   oldest: the oldest axios of the peer range, and no optional peer (msw, ioredis, @opentelemetry/api)
#   latest: the latest axios, and every optional peer
# Each install must print no `npm warn` line. In each project, CommonJS and ESM consumers load
# every subpath; a subpath whose optional peer is missing still loads, and its first use
# throws the typed MissingPeerError (ERR_ALIX_MISSING_PEER, the peer's range, the install
# command). The README quick start type-checks under `strict` and exactOptionalPropertyTypes (as `tsc --init`
# writes) with `moduleResolution` node16 and bundler and then runs, verbatim, as ES module code against the
# embedded sandbox (quick-start-run.mjs, with the ALIX_* variables it reads pointing there), and a script
# against the sandbox sends a request with the bearer, replays a 401 once, and keeps the
# bearer off another origin. In the latest project, every ts/js block of README.md and docs/
# is type-checked, the ones doc-snippets.json marks `run` run against the sandbox and the `jest` ones under Jest
# (doc-snippets.mjs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball="$work/$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)"

# The floor of the peer range ("^1.6.0" -> 1.6.0) is the oldest axios we claim to support.
oldest_axios=$(node -p "require('$root/package.json').peerDependencies.axios.replace(/^[\\^~>=]+/, '')")
# Optional peers at the versions the library's own tests use.
dev_version() { node -p "require('$root/node_modules/$1/package.json').version"; }
optional_peers=("msw@$(dev_version msw)" "ioredis@$(dev_version ioredis)")
if [ -f "$root/dist/otel.js" ]; then optional_peers+=("@opentelemetry/api@$(dev_version @opentelemetry/api)"); fi

# The README's quick start: the first ```ts block after "## Quick start".
extract_quick_start() {
  node -e "
    const text = require('fs').readFileSync('$root/README.md', 'utf8');
    const section = text.slice(text.indexOf('## Quick start'));
    const block = /\`\`\`ts\n([\s\S]*?)\`\`\`/.exec(section);
    if (!block) throw new Error('README.md has no ts block under ## Quick start');
    process.stdout.write(block[1] + '\nexport {};\n');
  "
}

# The compiler and Node's types come from the library's own dev dependencies: only the
# library and its peers are installed from the registry.
tsc() {
  node "$root/node_modules/typescript/bin/tsc" --strict --exactOptionalPropertyTypes --target es2022 --skipLibCheck false \
    --types node --typeRoots "$root/node_modules/@types" "$@"
}

check_project() {
  local name=$1
  shift
  local dir="$work/$name"
  mkdir -p "$dir"
  cd "$dir"
  npm init -y >/dev/null
  # --loglevel warn: `npm run` may pass its own (silent) log level down through the environment.
  npm install --loglevel warn --no-audit --no-fund "$tarball" "$@" >install.log 2>&1 || {
    cat install.log >&2
    exit 1
  }
  # npm 11 notes packages whose install scripts it has not been allowed to run (msw's
  # postinstall, in the latest project): that is the consumer's policy, not the tarball's.
  if grep -i '^npm warn' install.log | grep -iv '^npm warn install-scripts' >&2; then
    echo "$name: npm install of the packed tarball printed the warnings above" >&2
    exit 1
  fi
  cp "$root"/scripts/consumers/* .
  echo "--- $name: $(node -p "'axios ' + require('axios/package.json').version") with $*; no npm warning"

  node cjs-consumer.cjs
  node esm-consumer.mjs
  npx --no-install alix-token --help >/dev/null

  extract_quick_start >quick-start.mts
  cp quick-start.mts quick-start.ts
  # The node16 check also emits the JavaScript that runs below: readme/quick-start.mjs.
  tsc --module node16 --moduleResolution node16 --outDir readme quick-start.mts
  tsc --noEmit --module esnext --moduleResolution bundler quick-start.ts
  echo "types: README quick start type-checks (strict, exactOptionalPropertyTypes; node16 and bundler resolution)"

  node quick-start-run.mjs readme/quick-start.mjs
  node sandbox-run.mjs
  if [ "$name" = latest ]; then node doc-snippets.mjs "$root"; fi
}

check_project oldest "axios@$oldest_axios"
for peer in msw ioredis @opentelemetry/api; do
  if [ -e "$work/oldest/node_modules/$peer" ]; then
    echo "oldest: optional peer $peer was installed although nobody asked for it" >&2
    exit 1
  fi
done
check_project latest axios@latest "${optional_peers[@]}"
echo "consumers: oldest (axios $oldest_axios, no optional peers) and latest (all optional peers) pass"
