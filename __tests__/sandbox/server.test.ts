import axios from 'axios';
import { request as httpRequest } from 'node:http';
import { ConfigurationError } from '../../src/errors';
import {
  AlixSandboxCore,
  createAlixSignature,
  generatePartnerKeyPairSync,
  startAlixSandbox,
  type AlixSandbox,
  type SandboxAuthCallEvent,
  type SandboxReply,
} from '../../src/sandbox';

const keys = generatePartnerKeyPairSync();
const running: AlixSandbox[] = [];

async function begin(options: Parameters<typeof startAlixSandbox>[0] = {}): Promise<AlixSandbox> {
  const sandbox = await startAlixSandbox({ privateKeyPem: keys.privateKeyPem, ...options });
  running.push(sandbox);
  return sandbox;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((sandbox) => sandbox.close()));
});

function signInBody(sandbox: AlixSandbox): { partnerCode: string; signature: string } {
  return {
    partnerCode: sandbox.partnerCode,
    signature: createAlixSignature(sandbox.privateKeyPem, sandbox.partnerCode, sandbox.secretKey),
  };
}

describe('startAlixSandbox()', () => {
  it('listens on 127.0.0.1 at a free port with the default partner', async () => {
    const sandbox = await begin();
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.baseUrl).toBe(sandbox.url);
    expect(sandbox.url).toBe(`http://127.0.0.1:${sandbox.port}`);
    expect([sandbox.partnerCode, sandbox.secretKey]).toEqual(['sandbox-partner', 'sandbox-secret']);
    expect(sandbox.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
  });

  it('generates a key pair when given none, and exposes it', async () => {
    const sandbox = await startAlixSandbox();
    running.push(sandbox);
    expect(sandbox.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const response = await axios.post(`${sandbox.url}/api/v2/auth/access-token`, signInBody(sandbox));
    expect(response.data).toMatchObject({ success: true, errorCode: 0 });
  });

  it('works for axios, whose reset surfaces as a network error', async () => {
    const sandbox = await begin();
    sandbox.injectFaults(1, { type: 'reset' });
    const error: unknown = await axios
      .post(`${sandbox.url}/api/v2/auth/access-token`, signInBody(sandbox))
      .catch((e: unknown) => e);
    expect(axios.isAxiosError(error) && error.response === undefined).toBe(true);
    expect(sandbox.counters()).toMatchObject({ authenticate: 1, authFailures: 1 });
  });

  it('delegates the controls to its core', async () => {
    const sandbox = await begin({ now: () => 1_000_000 });
    sandbox.shiftClock(5_000);
    sandbox.injectFaults(2, { type: 'delay', ms: 0 });
    expect([sandbox.now(), sandbox.core.now(), sandbox.pendingFaults()]).toEqual([1_005_000, 1_005_000, 2]);
    sandbox.clearFaults();
    expect(sandbox.core.pendingFaults()).toBe(0);
  });

  it('answers 404 with a failure envelope to an unknown route', async () => {
    const sandbox = await begin();
    const response = await fetch(`${sandbox.url}/api/v2/nothing`);
    expect([response.status, await response.json()]).toEqual([
      404,
      { success: false, message: expect.any(String), data: null, errorCode: 404 },
    ]);
    expect(response.headers.get('date')).not.toBeNull();
  });

  it('answers 413 to a body over 1 MiB', async () => {
    const sandbox = await begin();
    const response = await fetch(`${sandbox.url}/api/v2/auth/access-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: 'x'.repeat(1024 * 1024 + 1),
    });
    expect(response.status).toBe(413);
  });

  it('reads a body of exactly 1 MiB', async () => {
    const sandbox = await begin();
    const response = await fetch(`${sandbox.url}/api/v2/auth/access-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: 'x'.repeat(1024 * 1024),
    });
    expect([response.status, ((await response.json()) as { errorCode: number }).errorCode]).toEqual([400, 10]);
  });

  it('counts a request answered 413 among every request', async () => {
    const sandbox = await begin();
    const body = 'x'.repeat(1024 * 1024 + 1);
    await fetch(`${sandbox.url}/api/v2/auth/access-token`, { method: 'POST', body });
    expect(sandbox.counters().requests).toBe(1);
  });

  it('serves a shared core and refuses a core mixed with other options', async () => {
    const core = new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem });
    const sandbox = await startAlixSandbox({ core });
    running.push(sandbox);
    expect(sandbox.core).toBe(core);
    await expect(startAlixSandbox({ core, partnerCode: 'x' })).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('reads an option given as undefined as not given, also beside a core', async () => {
    const core = new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem, partnerCode: undefined, strict: undefined });
    const sandbox = await begin({ core, privateKeyPem: undefined, host: undefined, port: undefined });
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sandbox.partnerCode).toBe('sandbox-partner');
  });

  it('throws on reading privateKeyPem when given only a public key', async () => {
    const sandbox = await begin({ privateKeyPem: undefined, publicKeyPem: keys.publicKeyPem });
    expect(() => sandbox.privateKeyPem).toThrow(ConfigurationError);
  });

  it('refuses a bad port', async () => {
    await expect(startAlixSandbox({ port: 70_000 })).rejects.toBeInstanceOf(ConfigurationError);
  });

  it('keeps no per-user count for sign-ins whose signature does not verify', async () => {
    const sandbox = await begin();
    for (let user = 0; user < 20; user += 1) {
      const response = await fetch(`${sandbox.url}/api/v2/auth/access-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ partnerCode: sandbox.partnerCode, signature: 'forged', userEmail: `u${user}@x.test` }),
      });
      expect(response.status).toBe(400);
    }

    expect(sandbox.userCounters().byUser.size).toBe(0);
    expect(sandbox.authCallsFor()).toEqual({ authenticate: 20, refresh: 0 });
  });
});

/** Lets the event loop turn until `done()` holds (a request reaching the sandbox takes a few turns). */
async function turnUntil(done: () => boolean, what: string): Promise<void> {
  for (let turn = 0; !done(); turn += 1) {
    if (turn === 10_000) throw new Error(`never: ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('a client that disconnects', () => {
  it('ends the wait on a delay fault: the call is dropped unprocessed (no token, no auth call reported)', async () => {
    const core = new AlixSandboxCore({ privateKeyPem: keys.privateKeyPem });
    const sandbox = await startAlixSandbox({ core });
    running.push(sandbox);
    const reported: SandboxAuthCallEvent[] = [];
    core.onAuthCall((event) => reported.push(event));
    // The server's answers, as the core gives them: the test waits on them, not on time.
    const replies: Array<Promise<SandboxReply>> = [];
    const handle = core.handle.bind(core);
    core.handle = (request, signal) => {
      const reply = handle(request, signal);
      replies.push(reply);
      return reply;
    };
    sandbox.injectFaults(1, { type: 'delay', ms: 60_000 });
    const req = httpRequest(`${sandbox.url}/api/v2/auth/access-token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    req.on('error', () => undefined);
    req.end(JSON.stringify(signInBody(sandbox)));
    await turnUntil(() => replies.length === 1 && sandbox.pendingFaults() === 0, 'the call reached the delay fault');

    req.destroy();

    expect(await replies[0]).toEqual({ reset: true });
    expect(reported).toEqual([]);
    expect(sandbox.counters()).toMatchObject({ authenticate: 1, authFailures: 0 });
  });
});

describe('AlixSandbox.close()', () => {
  it('closes idle keep-alive connections and is idempotent', async () => {
    const sandbox = await begin();
    const agentResponse = await fetch(`${sandbox.url}/api/v2/cards`);
    await agentResponse.arrayBuffer();
    const startedAt = performance.now();
    await Promise.all([sandbox.close(), sandbox.close()]);
    // Before Node's keep-alive timeout (5 s) would have closed the idle connection.
    expect(performance.now() - startedAt).toBeLessThan(3_000);
    await expect(fetch(`${sandbox.url}/api/v2/cards`)).rejects.toMatchObject({ name: 'TypeError' });
  });

  it('drops a request whose body is still on its way', async () => {
    const sandbox = await begin();
    const pending = new Promise<string>((resolve) => {
      const req = httpRequest(`${sandbox.url}/api/v2/auth/access-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Content-Length': '100', Expect: '100-continue' },
      });
      req.on('response', () => resolve('answered'));
      req.on('error', (error) => resolve(error.message));
      // The server's 100 Continue: it has the request and waits for a body that never comes.
      req.on('continue', () => void sandbox.close().then(() => resolve('closed')));
      req.flushHeaders();
    });
    expect(await pending).toMatch(/closed|socket hang up|ECONNRESET/);
    await sandbox.close();
  });

  it('drops a request waiting on a delay fault', async () => {
    const sandbox = await begin();
    sandbox.injectFaults(1, { type: 'delay', ms: 60_000 });
    const pending = new Promise<string>((resolve) => {
      const req = httpRequest(`${sandbox.url}/api/v2/auth/access-token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
      });
      req.on('response', () => resolve('answered'));
      req.on('error', (error) => resolve(error.message));
      req.end(JSON.stringify(signInBody(sandbox)));
    });
    // The request waits on the delay once it has taken the fault.
    await turnUntil(() => sandbox.pendingFaults() === 0, 'the request reached the delay fault');
    const startedAt = performance.now();
    await sandbox.close();
    expect(await pending).toMatch(/socket hang up|ECONNRESET/);
    // Long before the fault's 60 s.
    expect(performance.now() - startedAt).toBeLessThan(10_000);
  });
});
