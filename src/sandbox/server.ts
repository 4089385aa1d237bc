/**
 * The sandbox as a real HTTP server on 127.0.0.1, for demos, the CLI and tests that want
 * real sockets. It does not load msw.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertConfig } from '../errors';
import { AlixSandboxCore, SANDBOX_CONTROLS, coreFor, type AlixSandboxControl } from './core';
import { generatePartnerKeyPair } from './keys';
import type { AlixSandboxOptions } from './options';

/** Options of {@link startAlixSandbox}. */
export interface AlixSandboxServerOptions extends AlixSandboxOptions {
  /**
   * The interface to listen on.
   * @default '127.0.0.1'
   */
  host?: string | undefined;
  /**
   * The port; 0 picks a free one.
   * @default 0
   */
  port?: number | undefined;
  /**
   * An existing core to serve (e.g. one shared with msw handlers); the other sandbox
   * options must then be left out.
   * @default a new core built from the other options
   */
  core?: AlixSandboxCore | undefined;
}

/** The defaults of {@link AlixSandboxServerOptions}' own fields. */
export const DEFAULT_ALIX_SANDBOX_SERVER_OPTIONS = Object.freeze({ host: '127.0.0.1', port: 0 });

/** Request bodies above this size are answered 413. */
export const MAX_SANDBOX_BODY_BYTES = 1024 * 1024;

/** A running sandbox server: where it is, the partner credentials, and the test controls. */
export interface AlixSandbox
  extends AlixSandboxControl, Pick<AlixSandboxCore, 'partnerCode' | 'secretKey' | 'privateKeyPem' | 'publicKeyPem'> {
  /** `http://127.0.0.1:PORT`, no trailing slash. */
  readonly url: string;
  /** The same as {@link AlixSandbox.url}: pass it as the provider's `baseUrl`. */
  readonly baseUrl: string;
  readonly port: number;
  /** The core behind the server. */
  readonly core: AlixSandboxCore;
  /** Stops listening, drops open connections (keep-alive too) and pending delays. Idempotent. */
  close(): Promise<void>;
}

/** The request body, or `undefined` when it is over {@link MAX_SANDBOX_BODY_BYTES}. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_SANDBOX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_SANDBOX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

/**
 * Starts the sandbox on a local port.
 * @throws {ConfigurationError} on a bad option; rejects when the port cannot be bound.
 * @example
 * const sandbox = await startAlixSandbox({ accessTokenTtlMs: 60_000 });
 * const provider = new AlixAuthProvider({
 *   baseUrl: sandbox.baseUrl,
 *   partnerCode: sandbox.partnerCode,
 *   secretKey: sandbox.secretKey,
 *   privateKey: sandbox.privateKeyPem,
 * });
 * // …
 * await sandbox.close();
 */
export async function startAlixSandbox(options: AlixSandboxServerOptions = {}): Promise<AlixSandbox> {
  const { host = DEFAULT_ALIX_SANDBOX_SERVER_OPTIONS.host, port = DEFAULT_ALIX_SANDBOX_SERVER_OPTIONS.port } = options;
  assertConfig(Number.isInteger(port) && port >= 0 && port <= 65535, 'startAlixSandbox(): port must be 0–65535');
  const { host: _host, port: _port, core: given, ...coreOptions } = options;
  // Without a key, generate the pair off the event loop rather than inside the core's constructor.
  const keyless = coreOptions.publicKeyPem === undefined && coreOptions.privateKeyPem === undefined;
  const core =
    coreFor('startAlixSandbox()', given, coreOptions) ??
    new AlixSandboxCore({ ...coreOptions, ...(keyless ? await generatePartnerKeyPair() : {}) });
  const inFlight = new Set<AbortController>();

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const controller = new AbortController();
    inFlight.add(controller);
    res.on('close', () => {
      inFlight.delete(controller);
      if (!res.writableFinished) controller.abort();
    });
    try {
      const bodyText = await readBody(req);
      const { method = 'GET', url: path = '/', headers } = req;
      const request = { method, path, headers, bodyText: bodyText ?? '' };
      const reply = bodyText === undefined ? core.payloadTooLarge() : await core.handle(request, controller.signal);
      if (res.destroyed) return;
      if ('reset' in reply) req.socket.destroy();
      else res.writeHead(reply.status, reply.headers).end(reply.bodyText);
    } catch {
      req.socket.destroy();
    }
  };

  const server = createServer((req, res) => void serve(req, res));
  server.listen(port, host);
  await once(server, 'listening'); // rejects on 'error', e.g. EADDRINUSE
  const address = server.address() as AddressInfo;
  const hostInUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${hostInUrl}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      for (const controller of inFlight) controller.abort();
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  return {
    url,
    baseUrl: url,
    port: address.port,
    partnerCode: core.partnerCode,
    secretKey: core.secretKey,
    get privateKeyPem() {
      return core.privateKeyPem;
    },
    publicKeyPem: core.publicKeyPem,
    core,
    close,
    ...(Object.fromEntries(SANDBOX_CONTROLS.map((name) => [name, core[name].bind(core)])) as AlixSandboxControl),
  };
}
