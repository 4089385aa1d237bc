import { setupServer } from 'msw/node';
import { ConfigurationError, ErrorCodes } from '../../src/errors';
import {
  AlixSandboxCore,
  createAlixSignature,
  generatePartnerKeyPairSync,
  startAlixSandbox,
  type AlixSandbox,
} from '../../src/sandbox';
import { alixHandlers } from '../../src/sandbox/msw';

const keys = generatePartnerKeyPairSync();
const T0 = Date.UTC(2025, 0, 1);

function makeCore(options: ConstructorParameters<typeof AlixSandboxCore>[0] = {}): AlixSandboxCore {
  return new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem, now: () => T0, ...options });
}

/** Runs `call` and expects the typed error a bad input gets (SPEC §5), with this message. */
function expectConfigError(call: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    call();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigurationError);
  expect(thrown).toMatchObject({ code: ErrorCodes.CONFIGURATION, message: expect.stringMatching(message) });
}

describe('the sandbox controls › bad input', () => {
  let sandbox: AlixSandbox | undefined;
  afterEach(async () => sandbox?.close());

  it.each([
    ['shiftClock(NaN)', (c: AlixSandboxCore) => c.shiftClock(Number.NaN), /shiftClock\(\): ms must be a finite/],
    ['shiftClock("5")', (c: AlixSandboxCore) => c.shiftClock('5' as never), /shiftClock\(\): ms must be a finite/],
    ['revokeAccessTokens("")', (c: AlixSandboxCore) => c.revokeAccessTokens(''), /revokeAccessTokens\(\): userEmail/],
    ['revokeRefreshTokens(42)', (c: AlixSandboxCore) => c.revokeRefreshTokens(42 as never), /revokeRefreshTokens/],
    ['authCallsFor("")', (c: AlixSandboxCore) => c.authCallsFor(''), /authCallsFor\(\): userEmail/],
    ['a negative fault count', (c: AlixSandboxCore) => c.injectFaults(-1, { type: 'reset' }), /count must be/],
    ['an unknown fault type', (c: AlixSandboxCore) => c.injectFaults(1, { type: 'x' } as never), /unknown fault type/],
    ['a null fault', (c: AlixSandboxCore) => c.injectFaults(1, null as never), /unknown fault type/],
    [
      'an unknown endpoint',
      (c: AlixSandboxCore) => c.injectFaults(1, { type: 'reset', endpoint: 'x' } as never),
      /endpoint/,
    ],
    ['a 200 status fault', (c: AlixSandboxCore) => c.injectFaults(1, { type: 'status', status: 200 }), /400 to 599/],
    ['a NaN delay', (c: AlixSandboxCore) => c.injectFaults(1, { type: 'delay', ms: Number.NaN }), /ms >= 0/],
    ['a listener that is not a function', (c: AlixSandboxCore) => c.onAuthCall('x' as never), /onAuthCall\(\)/],
  ])('refuses %s with a ConfigurationError', (_label, call, message) => {
    const core = makeCore();
    expectConfigError(() => call(core), message);
    expect(core.pendingFaults()).toBe(0);
  });

  it('refuses a base clock that answers NaN, rather than issuing tokens that expire at NaN', () => {
    let base = T0;
    const core = makeCore({ now: () => base });
    base = Number.NaN; // a clock that goes bad after construction
    expectConfigError(() => core.now(), /sandbox option now must return a finite number/);
  });

  it.each([
    ['NaN', () => Number.NaN],
    ['a Date', () => new Date(T0)],
  ])('refuses at construction a base clock that answers %s, not at every request', async (_label, now) => {
    expectConfigError(() => makeCore({ now: now as never }), /sandbox option now must return a finite number/);
    const started = startAlixSandbox({ privateKeyPem: keys.privateKeyPem, now: now as never });
    await expect(started).rejects.toMatchObject({ code: ErrorCodes.CONFIGURATION });
  });

  it('refuses cards that are not objects', () => {
    expectConfigError(() => makeCore({ cards: [1] as never }), /sandbox option cards must be an array of objects/);
    expectConfigError(() => makeCore({ cards: [null] as never }), /sandbox option cards must be an array of objects/);
  });

  it('refuses bad input the same way through a running server', async () => {
    sandbox = await startAlixSandbox({ privateKeyPem: keys.privateKeyPem });
    const { shiftClock, onAuthCall } = sandbox;
    expectConfigError(() => shiftClock(Number.POSITIVE_INFINITY), /shiftClock/);
    expectConfigError(() => onAuthCall(undefined as never), /onAuthCall/);
  });
});

describe('HEAD /api/v2/cards', () => {
  const msw = setupServer();
  let sandbox: AlixSandbox | undefined;
  beforeAll(() => msw.listen({ onUnhandledRequest: 'bypass' })); // the node server's requests pass through
  afterAll(() => msw.close());
  afterEach(async () => sandbox?.close());

  async function accessToken(baseUrl: string, core: AlixSandboxCore): Promise<string> {
    const signature = createAlixSignature(keys.privateKeyPem, core.partnerCode, core.secretKey);
    const response = await fetch(`${baseUrl}/api/v2/auth/access-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ partnerCode: core.partnerCode, signature }),
    });
    return ((await response.json()) as { data: { accessToken: string } }).data.accessToken;
  }

  async function heads(baseUrl: string, core: AlixSandboxCore) {
    const token = await accessToken(baseUrl, core);
    const head = async (headers: Record<string, string>) => {
      const response = await fetch(`${baseUrl}/api/v2/cards`, { method: 'HEAD', headers });
      return [response.status, response.headers.get('content-type'), await response.text()];
    };
    return [await head({ Authorization: `Bearer ${token}` }), await head({})];
  }

  const json = 'application/json; charset=utf-8';

  it('is answered as GET is, without a body, by the node server and by the msw handlers alike', async () => {
    sandbox = await startAlixSandbox({ privateKeyPem: keys.privateKeyPem });
    const alix = alixHandlers({ privateKeyPem: keys.privateKeyPem });
    msw.use(...alix);
    const expected = [
      [200, json, ''],
      [401, json, ''],
    ];
    expect(await heads(sandbox.url, sandbox.core)).toEqual(expected);
    expect(await heads(alix.baseUrl, alix.core)).toEqual(expected);
    expect(sandbox.counters().resourceRequests).toBe(2);
  });

  it('is allowed on the cards route, and still refused on the auth routes', async () => {
    const core = makeCore();
    const post = await core.handle({ method: 'POST', path: '/api/v2/cards', headers: {}, bodyText: '' });
    const head = await core.handle({ method: 'HEAD', path: '/api/v2/auth/access-token', headers: {}, bodyText: '' });
    expect(post).toMatchObject({ status: 405, headers: { Allow: 'GET, HEAD' } });
    expect(head).toMatchObject({ status: 405, headers: { Allow: 'POST' } });
  });
});
