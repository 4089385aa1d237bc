/**
 * The sandbox as msw 2 request handlers (no port, same core, same answers), exported by
 * `alix-token-manager/testing/msw` through msw-entry.ts. The only file of the sandbox that
 * uses msw, loaded on first use, so that `alix-token-manager/testing` loads without msw
 * installed and `alixHandlers()` throws a typed `MissingPeerError` (`ERR_ALIX_MISSING_PEER`).
 */
import type * as Msw from 'msw';
import { assertConfig } from '../errors';
import { loadOptionalPeer } from '../optional-peer';
import { AlixSandboxCore, SANDBOX_PATHS, coreFor } from './core';
import type { AlixSandboxOptions } from './options';

/** The package `alix-token-manager/testing/msw` needs beside it. */
export const MSW_PACKAGE = 'msw';

/** Options of {@link alixHandlers}. */
export interface AlixHandlersOptions extends AlixSandboxOptions {
  /**
   * The base URL the handlers answer under (a path prefix is allowed).
   * @default 'https://sandbox.alix.test'
   */
  baseUrl?: string | undefined;
  /**
   * An existing core to serve (e.g. shared with a running `startAlixSandbox()`); the other
   * sandbox options must then be left out.
   * @default a new core built from the other options
   */
  core?: AlixSandboxCore | undefined;
}

/** The defaults of {@link AlixHandlersOptions}' own fields. */
export const DEFAULT_ALIX_HANDLERS_OPTIONS = Object.freeze({ baseUrl: 'https://sandbox.alix.test' });

/**
 * msw handlers for the sandbox routes, as an array (spread it into `setupServer`) that
 * also carries the core behind it for credentials and test controls.
 */
export type AlixHandlers = Msw.HttpHandler[] & {
  /** The core answering the requests: partner credentials, controls and counters. */
  readonly core: AlixSandboxCore;
  /** The base URL the handlers answer under, no trailing slash. */
  readonly baseUrl: string;
};

/**
 * Builds msw handlers that answer the Alix auth endpoints and `GET /api/v2/cards` exactly as
 * the sandbox server does (any method on those paths; other paths are left to your
 * handlers).
 * @throws {MissingPeerError} when msw is not installed.
 * @throws {ConfigurationError} on a bad option.
 * @example
 * import { alixHandlers } from 'alix-token-manager/testing/msw';
 * const alix = alixHandlers({ baseUrl: 'https://alix.example.test' });
 * const server = setupServer(...alix);
 * server.listen({ onUnhandledRequest: 'error' });
 * alix.core.injectFaults(1, { type: 'status', status: 503 });
 */
export function alixHandlers(coreOrOptions: AlixSandboxCore | AlixHandlersOptions = {}): AlixHandlers {
  const { http, HttpResponse } = loadOptionalPeer<typeof Msw>({
    packageName: MSW_PACKAGE,
    entry: 'alix-token-manager/testing/msw',
    worksWithout: 'startAlixSandbox() from alix-token-manager/testing, a real local server',
    dev: true,
  });
  const options: AlixHandlersOptions =
    coreOrOptions instanceof AlixSandboxCore ? { core: coreOrOptions } : coreOrOptions;
  const { baseUrl: given = DEFAULT_ALIX_HANDLERS_OPTIONS.baseUrl, core: givenCore, ...coreOptions } = options;
  assertConfig(URL.canParse(given), 'alixHandlers(): baseUrl is not a URL');
  const parsed = new URL(given);
  assertConfig(parsed.search === '' && parsed.hash === '', 'alixHandlers(): baseUrl must not have a query or hash');
  const prefix = parsed.pathname.replace(/\/+$/, '');
  const baseUrl = `${parsed.origin}${prefix}`;
  const core = coreFor('alixHandlers()', givenCore, coreOptions) ?? new AlixSandboxCore(coreOptions);
  const handlers = Object.values(SANDBOX_PATHS).map((path) =>
    http.all(`${baseUrl}${path}`, async ({ request }) => {
      const headers = Object.fromEntries(request.headers.entries());
      // The path as sent (msw's match ignores case and a trailing slash): the core routes it as for the server.
      const sent = new URL(request.url).pathname.slice(prefix.length);
      const asked = { method: request.method, path: sent, headers, bodyText: await request.text() };
      const reply = await core.handle(asked, request.signal);
      if ('reset' in reply) return HttpResponse.error();
      // A HEAD answer has no body; node:http drops it from the server's.
      const body = request.method === 'HEAD' ? null : reply.bodyText;
      return new HttpResponse(body, { status: reply.status, headers: reply.headers });
    }),
  );
  return Object.assign(handlers, { core, baseUrl });
}
