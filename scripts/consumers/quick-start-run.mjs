// Copied into a scratch project that installed the packed tarball and some axios. Runs the
// README quick start, compiled exactly as printed (argv: the compiled .mjs), against the
// embedded sandbox (no msw needed): the quick start reads its settings from the ALIX_*
// variables, which point at the sandbox here.
import assert from 'node:assert/strict';
import { runNode, sandboxForChild } from './run-node.mjs';

const [compiled] = process.argv.slice(2);
assert.ok(compiled, 'usage: node quick-start-run.mjs <quick-start.mjs>');

const { sandbox, env, close } = await sandboxForChild('quick-start-');

try {
  const run = await runNode([compiled], env);
  assert.equal(run.code, 0, `the README quick start exited ${run.code ?? run.signal}:\n${run.output}`);
  const counters = sandbox.counters();
  assert.equal(counters.authenticate, 1, 'the quick start signed in at the sandbox once: one session');
  assert.equal(
    sandbox.authCallsFor('reader@example.com').authenticate,
    1,
    'the quick start signed in for ALIX_USER_EMAIL',
  );
  assert.ok(
    counters.resourceRequests >= 1,
    'the quick start called the API at the sandbox (with the bearer: the sandbox answers 401 without it)',
  );
  console.log(
    `quick start: the README code ran against the sandbox ` +
      `(${counters.authenticate} sign-in, API calls: ${counters.resourceRequests})`,
  );
} finally {
  await close();
}
