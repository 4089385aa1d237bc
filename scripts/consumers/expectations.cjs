// Which subpaths a scratch project must load, given the optional peers it installed.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const expected = require('./expected-exports.json');

// A directory check: some packages (@opentelemetry/api) do not export their package.json.
function installed(name) {
  return fs.existsSync(path.join(process.cwd(), 'node_modules', name, 'package.json'));
}

const packageDir = path.dirname(require.resolve('alix-token-manager/package.json', { paths: [process.cwd()] }));
const { peerDependencies } = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8'));

/**
 * Each subpath with its expected exports, `firstUse` (the export that loads its optional
 * peer) and `missingPeer`: the optional peer it needs that is not installed. Such a subpath
 * must still load; its `firstUse` must then throw {@link assertMissingPeerError}'s error.
 * Entries whose file is not in this build (`entry`) are left out.
 */
const subpaths = Object.entries(expected)
  .filter(([, spec]) => spec.entry === undefined || fs.existsSync(path.join(packageDir, spec.entry)))
  .map(([specifier, spec]) => ({
    specifier,
    names: spec.exports,
    firstUse: spec.firstUse,
    missingPeer: spec.peer !== undefined && !installed(spec.peer) ? spec.peer : undefined,
  }));

/** Arguments each first use accepts: a minimal lifecycle source to instrument; the default handlers. */
const FIRST_USE_ARGUMENTS = { instrumentTokenManager: [{ on() {}, off() {}, status: () => ({}) }], alixHandlers: [] };

/** Calls the export that loads the peer. */
function useFirst(api, firstUse) {
  return api[firstUse](...FIRST_USE_ARGUMENTS[firstUse]);
}

/** The typed error of a missing optional peer: code, class name, peer, range from peerDependencies, install command. */
function assertMissingPeerError(error, specifier, peer) {
  const where = `${specifier} without ${peer}`;
  assert.ok(error instanceof Error, `${where}: expected an error, got ${error}`);
  assert.equal(error.code, 'ERR_ALIX_MISSING_PEER', `${where}: code of ${error.stack}`);
  assert.equal(error.name, 'MissingPeerError', where);
  assert.equal(error.packageName, peer, where);
  assert.equal(error.range, peerDependencies[peer], `${where}: the range of package.json peerDependencies`);
  assert.equal(error.entry, specifier, where);
  assert.match(error.installCommand, new RegExp(`^npm install (--save-dev )?"${peer}@`), where);
  assert.ok(
    error.message.includes(error.installCommand),
    `${where}: the message names the install command: ${error.message}`,
  );
  assert.match(error.message, /without it, use /, `${where}: the message names what works without it`);
}

module.exports = { subpaths, useFirst, assertMissingPeerError };
