/**
 * The clients compared against the sandbox: ours (TokenManager + attachTokenManager) and
 * axios-auth-refresh, whose refresh function calls the same provider's `refresh()`.
 */
import type { AxiosInstance } from 'axios';
import { attachTokenManager } from '../../src/adapters/axios';
import { TokenManager } from '../../src/index';
import type { TokenManagerOptions, TokenProvider, TokenSet } from '../../src/index';
import type { ReplayReport } from '../../src/manager/types';
import { createClient } from './http';

export type ContenderName = 'ours' | 'aar' | 'aar-no-dedupe';

export const CONTENDER_LABELS: Readonly<Record<ContenderName, string>> = {
  ours: 'alix-token-manager',
  aar: 'axios-auth-refresh (default)',
  'aar-no-dedupe': 'axios-auth-refresh { deduplicateRefresh: false }',
};

export interface Contender {
  api: AxiosInstance;
  manager: TokenManager | undefined;
  /** Ours only: how long each request's interceptor waited for its token, ms. */
  tokenWaitsMs: number[];
  close(): void;
}

/** When each auth call of a provider started and ended (performance.now() ms). */
export interface AuthInterval {
  kind: 'authenticate' | 'refresh';
  start: number;
  end: number;
}

/** A provider wrapper that records the interval of every auth call. */
export class TimedProvider implements TokenProvider {
  readonly intervals: AuthInterval[] = [];
  readonly #inner: TokenProvider;

  constructor(inner: TokenProvider) {
    this.#inner = inner;
  }

  authenticate(signal?: AbortSignal): Promise<TokenSet> {
    return this.#time('authenticate', () => this.#inner.authenticate(signal));
  }

  refresh(refreshToken: string, signal?: AbortSignal): Promise<TokenSet> {
    return this.#time('refresh', () => this.#inner.refresh(refreshToken, signal));
  }

  async #time(kind: AuthInterval['kind'], call: () => Promise<TokenSet>): Promise<TokenSet> {
    const start = performance.now();
    try {
      return await call();
    } finally {
      this.intervals.push({ kind, start, end: performance.now() });
    }
  }
}

/**
 * Builds a contender on its own keep-alive agent (`maxSockets` sockets) and obtains its
 * first token. axios-auth-refresh is wired as its README shows: a request interceptor adds
 * the current bearer, the refresh function stores the new set and fixes the failed request.
 */
export async function createContender(
  name: ContenderName,
  baseUrl: string,
  provider: TokenProvider,
  maxSockets: number,
  managerOptions: Partial<TokenManagerOptions> = {},
): Promise<Contender> {
  const { api, agent } = createClient(baseUrl, maxSockets);
  if (name === 'ours') {
    const manager = new TokenManager({ ...managerOptions, provider });
    const tokenWaitsMs: number[] = [];
    // The interceptor's token source, timed: shows whether a request ever waited for a refresh.
    const timedSource = {
      getAccessToken: async (options?: { signal?: AbortSignal }): Promise<string> => {
        const start = performance.now();
        const token = await manager.getAccessToken(options);
        tokenWaitsMs.push(performance.now() - start);
        return token;
      },
      invalidate: (token?: string) => manager.invalidate(token),
      recordReplay: (report: ReplayReport) => manager.recordReplay(report),
    };
    const detach = attachTokenManager(api, timedSource);
    await manager.getAccessToken();
    return {
      api,
      manager,
      tokenWaitsMs,
      close: () => {
        detach();
        manager.close();
        agent.destroy();
      },
    };
  }
  let session = await provider.authenticate();
  api.interceptors.request.use((config) => {
    config.headers.set('Authorization', `Bearer ${session.accessToken}`);
    return config;
  });
  const refreshAuthLogic = async (failedRequest: {
    response: { config: { headers: Record<string, unknown> } };
  }): Promise<void> => {
    session = await provider.refresh(session.refreshToken ?? '');
    failedRequest.response.config.headers.Authorization = `Bearer ${session.accessToken}`;
  };
  // Loaded on use, so children that never build a peer start without it.
  const { createAuthRefreshInterceptor } = await import('axios-auth-refresh');
  createAuthRefreshInterceptor(api, refreshAuthLogic, name === 'aar-no-dedupe' ? { deduplicateRefresh: false } : {});
  return { api, manager: undefined, tokenWaitsMs: [], close: () => agent.destroy() };
}
