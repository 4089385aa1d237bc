import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlixAuthProvider } from '../../src/providers/alix/provider';
import { ConfigurationError } from '../../src/errors';
import { METRIC_NAMES, instrumentTokenManager } from '../../src/otel';
import { Telemetry, pointsOf } from '../otel/telemetry';
import { makeRsaKeyPair } from '../helpers/alix-keys';
import { makePool, user } from './support';

describe('TokenManagerPool observability', () => {
  let telemetry: Telemetry;
  beforeEach(() => {
    telemetry = new Telemetry();
  });
  afterEach(() => telemetry.shutdown());

  it('is instrumented like a manager: auth calls counted, earliest expiry gauged, no key reported', async () => {
    const { pool } = makePool();
    const instrumentation = instrumentTokenManager(pool, {
      meterProvider: telemetry.meterProvider,
      tracerProvider: telemetry.tracerProvider,
    });
    await pool.getAccessToken(user(1));
    await pool.getAccessToken(user(2));

    const exported = await telemetry.collect();
    const authCalls = pointsOf(exported, METRIC_NAMES.authRequests);
    expect(authCalls.reduce((sum, point) => sum + (point.value as number), 0)).toBe(2);
    const [lifetime] = pointsOf(exported, METRIC_NAMES.tokenRemainingLifetime);
    expect(lifetime?.value).toBeGreaterThan(14 * 60);
    expect(JSON.stringify(exported)).not.toContain('example.com');
    expect(telemetry.spans().map((span) => span.name)).toHaveLength(4);
    expect(JSON.stringify(telemetry.spans().map((span) => span.attributes))).not.toContain('example.com');
    instrumentation.uninstrument();
    expect(pool.listenerCount('lifecycle')).toBe(0);
    pool.close();
  });
});

describe('AlixAuthProvider.forUsers()', () => {
  const common = {
    baseUrl: 'https://api.alix.example',
    partnerCode: 'acme',
    secretKey: 'secret',
    signer: async () => 'c2ln',
  };

  it('returns a factory of one provider per user, each with its own identity', () => {
    const forUser = AlixAuthProvider.forUsers(common);
    const jane = forUser('jane@example.com');
    expect(jane).toBeInstanceOf(AlixAuthProvider);
    expect(forUser('jane@example.com').identity.id).toBe(jane.identity.id);
    expect(forUser('john@example.com').identity.id).not.toBe(jane.identity.id);
  });

  it('refuses a userEmail in the common options: each session key is one', () => {
    const withUser = { ...common, userEmail: 'jane@example.com' } as Parameters<typeof AlixAuthProvider.forUsers>[0];
    expect(() => AlixAuthProvider.forUsers(withUser)).toThrow(ConfigurationError);
    expect(() => AlixAuthProvider.forUsers(withUser)).toThrow(/^forUsers\(\): leave out userEmail/);
  });

  it('reads a private key file once, for every user to come', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alix-for-users-'));
    try {
      const file = join(dir, 'private.pem');
      writeFileSync(file, makeRsaKeyPair().privatePem);
      const forUser = AlixAuthProvider.forUsers({ ...common, signer: undefined, privateKey: file });
      rmSync(file);
      expect(forUser('jane@example.com')).toBeInstanceOf(AlixAuthProvider);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validates the common options once, at once', () => {
    expect(() => AlixAuthProvider.forUsers({ ...common, partnerCode: '' })).toThrow(ConfigurationError);
    expect(() => AlixAuthProvider.forUsers({ ...common, baseUrl: 'http://api.alix.example' })).toThrow(
      ConfigurationError,
    );
    expect(() =>
      AlixAuthProvider.forUsers({ ...common, privateKey: '/nonexistent/key.pem', signer: undefined }),
    ).toThrow(ConfigurationError);
  });
});
