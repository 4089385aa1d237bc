/**
 * End to end: the real TokenManager, AlixAuthProvider and sandbox, instrumented, with the
 * SDK's in-memory exporters; and a secrets scan using the tokens and signatures that
 * really crossed the wire.
 */
import { createSign } from 'node:crypto';
import axios from 'axios';
import { SpanStatusCode } from '@opentelemetry/api';
import { attachTokenManager } from '../../src/adapters/axios';
import { ErrorCodes } from '../../src/errors';
import type { InternalTokenManagerOptions } from '../../src/internal';
import { TokenManager } from '../../src/manager/token-manager';
import { ATTRIBUTES, METRIC_NAMES, SPAN_EVENT_NAMES, SPAN_NAMES, instrumentTokenManager } from '../../src/otel';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import type { TokenProvider } from '../../src/providers/types';
import { startAlixSandbox } from '../../src/sandbox/server';
import type { AlixSandbox } from '../../src/sandbox/server';
import { pemBodyLines } from '../helpers/alix-keys';
import { ManualClock } from '../helpers/manual-clock';
import { Telemetry, pointsOf } from './telemetry';

/** What crossed the wire: every token issued and every signature sent. */
interface Wire {
  tokens: string[];
  signatures: string[];
}

/** An AlixAuthProvider on the sandbox that records the tokens it receives and the signatures it sends. */
function recordingProvider(sandbox: AlixSandbox, wire: Wire): TokenProvider {
  const inner = new AlixAuthProvider({
    baseUrl: sandbox.url,
    partnerCode: sandbox.partnerCode,
    secretKey: sandbox.secretKey,
    signer: async (data) => {
      const signature = createSign('RSA-SHA256').update(data).sign(sandbox.privateKeyPem, 'base64');
      wire.signatures.push(signature);
      return signature;
    },
  });
  const keep = <T extends { accessToken: string; refreshToken?: string | null }>(tokens: T): T => {
    wire.tokens.push(tokens.accessToken);
    if (typeof tokens.refreshToken === 'string') wire.tokens.push(tokens.refreshToken);
    return tokens;
  };
  const identified: TokenProvider = inner;
  return {
    identity: identified.identity,
    authenticate: async (signal) => keep(await inner.authenticate(signal)),
    refresh: async (refreshToken, signal) => keep(await inner.refresh(refreshToken, signal)),
  };
}

describe('instrumentTokenManager() on a real TokenManager and the sandbox', () => {
  let sandbox: AlixSandbox;
  let telemetry: Telemetry;
  let manager: TokenManager;
  let wire: Wire;

  beforeAll(async () => {
    sandbox = await startAlixSandbox();
  });
  beforeEach(() => {
    sandbox.clearFaults();
    telemetry = new Telemetry();
    wire = { tokens: [], signatures: [] };
    manager = new TokenManager({
      provider: recordingProvider(sandbox, wire),
      retry: { minDelayMs: 0, maxDelayMs: 0, randomize: false },
    });
    instrumentTokenManager(manager, {
      meterProvider: telemetry.meterProvider,
      tracerProvider: telemetry.tracerProvider,
    });
  });
  afterEach(async () => {
    manager.close();
    await telemetry.shutdown();
  });
  afterAll(() => sandbox.close());

  /** Sign in, then a forced refresh whose first call gets a 503 and is retried. */
  async function signInThenRefreshThroughA503(): Promise<void> {
    await manager.getAccessToken();
    sandbox.injectFaults(1, { type: 'status', status: 503, endpoint: 'refresh' });
    await manager.getAccessToken({ forceRefresh: true });
  }

  it('reports the sign-in, the refresh retried after a 503, the caller wait and the token lifetime as metrics', async () => {
    await signInThenRefreshThroughA503();

    const exported = await telemetry.collect();
    const requests = pointsOf(exported, METRIC_NAMES.authRequests);
    expect(requests).toHaveLength(3);
    expect(requests).toEqual(
      expect.arrayContaining([
        { attributes: { [ATTRIBUTES.authOperation]: 'authenticate', [ATTRIBUTES.authOutcome]: 'success' }, value: 1 },
        { attributes: { [ATTRIBUTES.authOperation]: 'refresh', [ATTRIBUTES.authOutcome]: 'success' }, value: 1 },
        {
          attributes: {
            [ATTRIBUTES.authOperation]: 'refresh',
            [ATTRIBUTES.authOutcome]: 'failure',
            [ATTRIBUTES.errorType]: ErrorCodes.AUTH_UNAVAILABLE,
          },
          value: 1,
        },
      ]),
    );
    expect(pointsOf(exported, METRIC_NAMES.retries)).toEqual([
      {
        attributes: {
          [ATTRIBUTES.authOperation]: 'refresh',
          [ATTRIBUTES.retryBackground]: false,
          [ATTRIBUTES.errorType]: ErrorCodes.AUTH_UNAVAILABLE,
        },
        value: 1,
      },
    ]);
    expect(pointsOf(exported, METRIC_NAMES.refreshes)).toEqual(
      expect.arrayContaining([
        { attributes: { [ATTRIBUTES.refreshReason]: 'initial', [ATTRIBUTES.refreshOutcome]: 'signed-in' }, value: 1 },
        { attributes: { [ATTRIBUTES.refreshReason]: 'forced', [ATTRIBUTES.refreshOutcome]: 'refreshed' }, value: 1 },
      ]),
    );
    const waits = pointsOf(exported, METRIC_NAMES.tokenWaitDuration).find(
      (point) => point.attributes[ATTRIBUTES.tokenWaitOutcome] === 'success',
    );
    expect(waits?.value).toEqual({ count: expect.any(Number), sum: expect.any(Number) });
    const [lifetime] = pointsOf(exported, METRIC_NAMES.tokenRemainingLifetime);
    const expiresAt = manager.status().accessTokenExpiresAt ?? Number.NaN;
    expect(lifetime?.value).toBeCloseTo((expiresAt - Date.now()) / 1000, 0);
    expect(lifetime?.value).toBeGreaterThan(14 * 60);
  });

  it('traces each refresh run with its auth calls as children, the 503 in error and the retry as an event', async () => {
    await signInThenRefreshThroughA503();

    const spans = telemetry.spans();
    const runs = spans.filter((span) => span.name === SPAN_NAMES.refresh);
    expect(runs.map((run) => run.attributes[ATTRIBUTES.refreshReason])).toEqual(['initial', 'forced']);
    const forced = runs[1];
    const calls = spans.filter((span) => span.parentSpanContext?.spanId === forced?.spanContext().spanId);
    expect(calls.map((call) => [call.name, call.attributes[ATTRIBUTES.authAttempt], call.status.code])).toEqual([
      [SPAN_NAMES.authRefresh, 1, SpanStatusCode.ERROR],
      [SPAN_NAMES.authRefresh, 2, SpanStatusCode.UNSET],
    ]);
    expect(calls[0]?.attributes[ATTRIBUTES.httpStatusCode]).toBe(503);
    expect(forced?.events.map((event) => event.name)).toEqual([SPAN_EVENT_NAMES.retryScheduled]);
  });

  it('marks a run abandoned at its deadline, and the auth call the sandbox never answered, in error', async () => {
    // The deadline runs on an injected clock: the test decides when it passes, nothing sleeps.
    const clock = new ManualClock(Date.now());
    const abandoning = new TokenManager({
      provider: recordingProvider(sandbox, wire),
      now: clock.now,
      timers: clock,
      acquireTimeoutMs: 5_000,
    } as InternalTokenManagerOptions);
    const instrumentation = instrumentTokenManager(abandoning, { tracerProvider: telemetry.tracerProvider });
    sandbox.injectFaults(1, { type: 'delay', ms: 60_000, endpoint: 'authenticate' });
    const callStarted = new Promise<void>((resolve) =>
      abandoning.on('lifecycle', (event) => event.type === 'auth-call-started' && resolve()),
    );
    const outcome = abandoning.getAccessToken().then(
      () => undefined,
      (error: unknown) => error,
    );
    try {
      await callStarted;
      clock.advance(5_000);
      expect(await outcome).toMatchObject({ code: ErrorCodes.TIMEOUT });
    } finally {
      instrumentation.uninstrument();
      abandoning.close();
    }

    const run = telemetry.spans().find((span) => span.name === SPAN_NAMES.refresh);
    const calls = telemetry.spans().filter((span) => span.parentSpanContext?.spanId === run?.spanContext().spanId);
    expect(run?.attributes[ATTRIBUTES.refreshOutcome]).toBe('abandoned');
    expect(run?.status).toEqual({ code: SpanStatusCode.ERROR, message: ErrorCodes.TIMEOUT });
    expect(calls.map((call) => [call.name, call.status])).toEqual([
      [SPAN_NAMES.authSignIn, { code: SpanStatusCode.ERROR, message: ErrorCodes.TIMEOUT }],
    ]);
  });

  it('exports none of the tokens, signatures or keys that crossed the wire', async () => {
    const api = axios.create({ baseURL: sandbox.url });
    attachTokenManager(api, manager);
    await signInThenRefreshThroughA503();
    await api.get('/api/v2/cards');
    sandbox.revokeAccessTokens();
    await api.get('/api/v2/cards');
    wire.tokens.push(await manager.getAccessToken());

    const text = await telemetry.exportedText();
    expect(pointsOf(await telemetry.collect(), METRIC_NAMES.replays)).toHaveLength(1);
    expect(wire.tokens.length).toBeGreaterThanOrEqual(6);
    expect(wire.signatures.length).toBeGreaterThanOrEqual(3);
    const secrets = [...wire.tokens, ...wire.signatures, sandbox.secretKey, ...pemBodyLines(sandbox.privateKeyPem)];
    expect(secrets.filter((secret) => text.includes(secret))).toEqual([]);
    // Tokens are JWTs: no part of one (header, claims, signature) may appear either.
    const parts = wire.tokens.flatMap((token) => token.split('.')).filter((part) => part.length >= 16);
    expect(parts.filter((part) => text.includes(part))).toEqual([]);
  });
});
