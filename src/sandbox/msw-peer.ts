/**
 * The optional peer `alix-token-manager/testing/msw` needs. The entry re-exports this module
 * first, before anything that loads msw, so that under CommonJS (where modules run in import
 * order) a missing install fails with the fix in the message. Under ESM, Node resolves every
 * import before running any code, and its own `ERR_MODULE_NOT_FOUND` ("Cannot find package
 * 'msw'") names the package.
 */

/** The package `alix-token-manager/testing/msw` needs beside it. */
export const MSW_PACKAGE = 'msw';

// CommonJS only (where `__filename` exists): the ESM build rewrites `require` into a shim that
// always throws, and there the static imports fail on their own.
if (typeof __filename === 'string' && typeof require === 'function') {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a probe, CommonJS only; msw.ts does the real loading
    require('msw');
  } catch (error) {
    throw new Error(
      `alix-token-manager/testing/msw needs the optional peer dependency ${MSW_PACKAGE} (2.x), which could not be loaded: ` +
        `install it beside alix-token-manager (npm install --save-dev ${MSW_PACKAGE}); alix-token-manager/testing works without it`,
      { cause: error },
    );
  }
}
