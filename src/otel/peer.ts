/**
 * The optional peer this entry needs. The entry re-exports this module first, before anything
 * that loads the peer, so that under CommonJS (where modules run in import order) a missing
 * install fails with the fix in the message. Under ESM, Node resolves every import before
 * running any code, and its own `ERR_MODULE_NOT_FOUND` ("Cannot find package
 * '@opentelemetry/api'") names the package.
 */

/** The package `alix-token-manager/otel` needs beside it. */
export const OTEL_API_PACKAGE = '@opentelemetry/api';

// CommonJS only (where `__filename` exists): the ESM build rewrites `require` into a shim that
// always throws, and there the static imports fail on their own.
if (typeof __filename === 'string' && typeof require === 'function') {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a probe, CommonJS only; the static imports elsewhere do the real loading
    require('@opentelemetry/api');
  } catch (error) {
    throw new Error(
      `alix-token-manager/otel needs the optional peer dependency ${OTEL_API_PACKAGE}, which could not be loaded: ` +
        `install it beside alix-token-manager (npm install ${OTEL_API_PACKAGE})`,
      { cause: error },
    );
  }
}
