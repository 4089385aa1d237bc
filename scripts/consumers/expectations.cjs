// Which subpaths a scratch project must load, given the optional peers it installed.
const fs = require('node:fs');
const path = require('node:path');

const expected = require('./expected-exports.json');

// A directory check: some packages (@opentelemetry/api) do not export their package.json.
function installed(name) {
  return fs.existsSync(path.join(process.cwd(), 'node_modules', name, 'package.json'));
}

const packageDir = path.dirname(require.resolve('alix-token-manager/package.json', { paths: [process.cwd()] }));

/**
 * Each subpath with its expected exports and `missingPeer`: the optional peer it needs that is
 * not installed (then loading it must fail with an error naming that peer). Entries whose file
 * is not in this build (`entry`) are left out.
 */
module.exports = Object.entries(expected)
  .filter(([, spec]) => spec.entry === undefined || fs.existsSync(path.join(packageDir, spec.entry)))
  .map(([specifier, spec]) => ({
    specifier,
    names: spec.exports,
    missingPeer: spec.peer !== undefined && !installed(spec.peer) ? spec.peer : undefined,
  }));
