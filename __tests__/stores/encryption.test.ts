import { randomBytes } from 'node:crypto';
import NodeCache from 'node-cache';
import { ConfigurationError, ErrorCodes } from '../../src/errors';
import type { LifecycleEvent } from '../../src/manager/types';
import { createTokenManagerFromEnv } from '../../src/standalone/default-manager';
import { parseEncryptionKeys, readAlixEnvConfig } from '../../src/standalone/env-config';
import { AesGcmTokenCipher } from '../../src/stores/encryption';
import type { TokenCipher } from '../../src/stores/encryption';
import { UnreadableSessionError, sessionAad } from '../../src/stores/encryption';
import { MemoryTokenStore } from '../../src/stores/memory';
import { FakeProvider, makeTokenSet } from '../helpers/fake-provider';
import { T0, makeManager, useFakeClock } from '../helpers/manager';
import { startSandboxWithEnv } from '../helpers/sandbox-env';

const K1 = randomBytes(32);
const K2 = randomBytes(32).toString('base64');
const K3 = randomBytes(32);
const KEY = 'alix-token-manager:session:id-a';

describe('AesGcmTokenCipher', () => {
  it('opens what it sealed, with a fresh nonce for every value', async () => {
    const cipher = new AesGcmTokenCipher({ keys: { k1: K1 }, current: 'k1' });
    const [first, second] = [await cipher.seal('plain', 'aad'), await cipher.seal('plain', 'aad')];
    expect(first).not.toBe(second);
    expect(first.startsWith('a1.k1.')).toBe(true);
    expect(await cipher.open(first, 'aad')).toBe('plain');
    expect(await cipher.open(second, 'aad')).toBe('plain');
  });

  it('never repeats a nonce, across the batches its random bytes are drawn in', async () => {
    const cipher = new AesGcmTokenCipher({ keys: { k1: K1 }, current: 'k1' });
    const sealed = await Promise.all(Array.from({ length: 1_000 }, () => cipher.seal('plain', 'aad')));
    const nonces = sealed.map((value) =>
      Buffer.from(value.split('.')[2] ?? '', 'base64url')
        .subarray(0, 12)
        .toString('hex'),
    );
    expect(new Set(nonces).size).toBe(1_000);
    expect(await cipher.open(sealed[999] ?? '', 'aad')).toBe('plain');
  });

  it('does not open a value under other additional data, altered, relabelled or under an unlisted key', async () => {
    const cipher = new AesGcmTokenCipher({ keys: { k1: K1, k2: K2 }, current: 'k1' });
    const sealed = await cipher.seal('plain', 'aad');
    const body = sealed.slice('a1.k1.'.length);
    const flipped = `${body.slice(0, 20)}${body[20] === 'A' ? 'B' : 'A'}${body.slice(21)}`;
    expect(await cipher.open(sealed, 'other aad')).toBeUndefined();
    expect(await cipher.open(`a1.k1.${flipped}`, 'aad')).toBeUndefined();
    expect(await cipher.open(`a1.k2.${body}`, 'aad')).toBeUndefined();
    expect(await cipher.open(`a1.k9.${body}`, 'aad')).toBeUndefined();
    expect(await cipher.open('not sealed', 'aad')).toBeUndefined();
    expect(await new AesGcmTokenCipher({ keys: { k3: K3 }, current: 'k3' }).open(sealed, 'aad')).toBeUndefined();
  });

  it('seals with the current key and opens every listed one (rotation)', async () => {
    const old = await new AesGcmTokenCipher({ keys: { k1: K1 }, current: 'k1' }).seal('plain', 'aad');
    const rotated = new AesGcmTokenCipher({ keys: { k1: K1, k2: K2 }, current: 'k2' });
    expect(await rotated.open(old, 'aad')).toBe('plain');
    expect((await rotated.seal('plain', 'aad')).startsWith('a1.k2.')).toBe(true);
  });

  it.each([
    ['a short key', { keys: { k1: randomBytes(31) }, current: 'k1' }, /"k1" must be 32 bytes .* it is 31 bytes/],
    ['a long key', { keys: { k1: randomBytes(33) }, current: 'k1' }, /"k1" must be 32 bytes .* it is 33 bytes/],
    ['a key that is not base64', { keys: { k1: 'not base64!' }, current: 'k1' }, /"k1" must be a 32-byte Buffer/],
    ['an unlisted current key', { keys: { k1: K1 }, current: 'k2' }, /current must name one of the listed key ids/],
    ['a key id with a dot', { keys: { 'k.1': K1 }, current: 'k.1' }, /key id number 1 must be 1 to 32 characters/],
    ['no keys', { keys: {}, current: 'k1' }, /at least one key/],
  ])('refuses %s with a ConfigurationError that does not echo the key', (_name, options, message) => {
    const attempt = (): unknown => new MemoryTokenStore({ encryption: options as never });
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(/^MemoryTokenStore option encryption/);
    for (const key of Object.values(options.keys)) {
      const text = Buffer.isBuffer(key) ? key.toString('base64') : String(key);
      expect(() => attempt()).not.toThrow(text);
    }
  });
});

describe('MemoryTokenStore with encryption', () => {
  const encryption = { keys: { k1: K1 }, current: 'k1' };

  it('keeps the tokens sealed in its cache and returns them with their identity', async () => {
    const cache = new NodeCache({ useClones: false });
    const store = new MemoryTokenStore({ cache, encryption });
    const session = { identity: 'id-a', tokens: makeTokenSet(Date.now()) };
    await store.set(KEY, session);
    const raw = JSON.stringify(cache.get(KEY));
    expect(raw).not.toContain(session.tokens.accessToken);
    expect(raw).not.toContain(session.tokens.refreshToken);
    expect(await store.get(KEY)).toEqual(session);
  });

  it('refuses a value moved under another key with an UnreadableSessionError (its own code)', async () => {
    const cache = new NodeCache({ useClones: false });
    const store = new MemoryTokenStore({ cache, encryption });
    await store.set(KEY, { identity: 'id-a', tokens: makeTokenSet(Date.now()) });
    cache.set('alix-token-manager:session:id-b', cache.get(KEY));
    const read = store.get('alix-token-manager:session:id-b');
    await expect(read).rejects.toBeInstanceOf(UnreadableSessionError);
    await expect(read).rejects.toMatchObject({ code: ErrorCodes.STORE_UNREADABLE });
    await expect(new MemoryTokenStore({ cache }).get(KEY)).rejects.toMatchObject({ code: ErrorCodes.STORE_UNREADABLE });
  });

  it('binds the store key and identity unambiguously, even when one holds a newline', async () => {
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    const store = new MemoryTokenStore({ cache, encryption });
    // Identity "b\nc" under key "a", moved to key "a\nb" and relabelled with identity "c".
    await store.set('a', { identity: 'b\nc', tokens: makeTokenSet(Date.now()) });
    const sealed = cache.get<{ identity: string; sealed: string }>('a');
    cache.set('a\nb', { identity: 'c', sealed: sealed?.sealed });
    await expect(store.get('a\nb')).rejects.toMatchObject({ code: ErrorCodes.STORE_UNREADABLE });
    // Without a newline, the additional data is what earlier versions sealed under: their values still open.
    expect(sessionAad('a', 'b')).toBe('alix-token-manager/session\na\nb');
    // With a newline in either, the JSON form: values sealed so (an identity with a newline) keep opening.
    expect(sessionAad('a', 'b\nc')).toBe('alix-token-manager/session-json\n["a","b\\nc"]');
  });

  it('refuses a plaintext value as unreadable by default, and leaves it for the next write to replace', async () => {
    const cache = new NodeCache({ useClones: false });
    const session = { identity: 'id-a', tokens: makeTokenSet(Date.now()) };
    await new MemoryTokenStore({ cache }).set(KEY, session);
    // Both forms of the option: the bundled keys, and a cipher of one's own (a KMS).
    for (const form of [encryption, { cipher: new AesGcmTokenCipher(encryption) }]) {
      const read = new MemoryTokenStore({ cache, encryption: form }).get(KEY);
      await expect(read).rejects.toBeInstanceOf(UnreadableSessionError);
      await expect(read).rejects.toMatchObject({
        code: ErrorCodes.STORE_UNREADABLE,
        message: expect.stringContaining('it is not encrypted'),
      });
    }
    expect(cache.get(KEY)).toEqual(session);
  });

  it('with readPlaintext, reads a plaintext session (from before encryption) once, re-writing it sealed', async () => {
    const cache = new NodeCache({ useClones: false });
    const session = { identity: 'id-a', tokens: makeTokenSet(Date.now()) };
    await new MemoryTokenStore({ cache }).set(KEY, session);
    const store = new MemoryTokenStore({ cache, encryption: { ...encryption, readPlaintext: true } });
    expect(await store.get(KEY)).toEqual(session);
    expect(JSON.stringify(cache.get(KEY))).not.toContain(session.tokens.refreshToken);
    expect(await store.get(KEY)).toEqual(session);
  });

  it('with readPlaintext, still returns a plaintext session when sealing it fails (a KMS that is down)', async () => {
    const cache = new NodeCache({ useClones: false });
    const session = { identity: 'id-a', tokens: makeTokenSet(Date.now()) };
    await new MemoryTokenStore({ cache }).set(KEY, session);
    const down = new Error('KMS unavailable');
    const cipher: TokenCipher = { seal: () => Promise.reject(down), open: () => Promise.reject(down) };
    const store = new MemoryTokenStore({ cache, encryption: { cipher, readPlaintext: true } });
    expect(await store.get(KEY)).toEqual(session);
    expect(cache.get(KEY)).toEqual(session); // left for the next write to seal
  });

  it('reports a cipher that cannot work right now (a KMS that is down) as a TokenStoreError, on write and on read', async () => {
    const cache = new NodeCache({ useClones: false });
    const session = { identity: 'id-a', tokens: makeTokenSet(Date.now()) };
    await new MemoryTokenStore({ cache, encryption }).set(KEY, session);
    const down = new Error('KMS unavailable');
    const cipher: TokenCipher = { seal: () => Promise.reject(down), open: () => Promise.reject(down) };
    const store = new MemoryTokenStore({ cache, encryption: { cipher } });
    const failure = { code: ErrorCodes.STORE, message: expect.stringContaining('the cipher failed') };
    await expect(store.set(KEY, session)).rejects.toMatchObject(failure);
    await expect(store.get(KEY)).rejects.toMatchObject(failure);
  });

  it('reports a cipher that throws at once, or answers without a promise, as it reports one that rejects', async () => {
    const cache = new NodeCache({ useClones: false });
    const session = { identity: 'id-a', tokens: makeTokenSet(Date.now()) };
    await new MemoryTokenStore({ cache, encryption }).set(KEY, session);
    const throwing = (): never => {
      throw new Error('KMS client not ready');
    };
    const failure = { code: ErrorCodes.STORE, message: expect.stringContaining('the cipher failed') };
    const store = new MemoryTokenStore({ cache, encryption: { cipher: { seal: throwing, open: throwing } } });
    await expect(store.set(KEY, session)).rejects.toMatchObject(failure);
    await expect(store.get(KEY)).rejects.toMatchObject(failure);
    // A synchronous cipher (a plain string back) still works.
    const inner = new AesGcmTokenCipher(encryption);
    const sealed = await inner.seal('{}', 'aad');
    const plain: TokenCipher = { seal: (() => sealed) as never, open: (() => undefined) as never };
    await expect(new MemoryTokenStore({ encryption: { cipher: plain } }).set(KEY, session)).resolves.toBeUndefined();
  });

  it('takes a TokenCipher of its own (a KMS) and binds the store key and identity as additional data', async () => {
    const aads: string[] = [];
    const inner = new AesGcmTokenCipher({ keys: { k1: K1 }, current: 'k1' });
    const cipher: TokenCipher = {
      seal: async (plaintext, aad) => (aads.push(aad), inner.seal(plaintext, aad)),
      open: async (sealed, aad) => (aads.push(aad), inner.open(sealed, aad)),
    };
    const store = new MemoryTokenStore({ encryption: { cipher } });
    const session = { identity: 'id-a', tokens: makeTokenSet(Date.now()) };
    await store.set(KEY, session);
    expect(await store.get(KEY)).toEqual(session);
    expect(aads).toEqual([sessionAad(KEY, 'id-a'), sessionAad(KEY, 'id-a')]);
    expect(aads[0]).toContain(KEY);
    expect(aads[0]).toContain('id-a');
    const noCipher = (): unknown => new MemoryTokenStore({ encryption: { cipher: {} as TokenCipher } });
    expect(noCipher).toThrow(/encryption.cipher must have seal\(\) and open\(\)/);
  });

  it.each(['true', 1, null])(
    'refuses readPlaintext %p, in either form of the option: it must be a boolean',
    (value) => {
      const cipher = new AesGcmTokenCipher(encryption);
      for (const form of [encryption, { cipher }]) {
        const options = { encryption: { ...form, readPlaintext: value as unknown as boolean } };
        expect(() => new MemoryTokenStore(options)).toThrow(ConfigurationError);
        expect(() => new MemoryTokenStore(options)).toThrow(/MemoryTokenStore option encryption.readPlaintext must be/);
        expect(new MemoryTokenStore({ encryption: { ...form, readPlaintext: false } })).toBeInstanceOf(
          MemoryTokenStore,
        );
      }
    },
  );
});

describe('TokenManager on an encrypting store', () => {
  it('treats a value that does not decrypt as no stored session: signs in, counts it, never throws', async () => {
    const cache = new NodeCache({ useClones: false });
    const encryption = { keys: { k1: K1 }, current: 'k1' };
    const provider = new FakeProvider({ now: () => Date.now(), identity: { id: 'unidentified' } });
    const { manager: first } = makeManager({ store: new MemoryTokenStore({ cache, encryption }), provider });
    await first.getAccessToken();
    const key = first.storeKey;
    first.close();
    // Another session's value copied over this one: it does not open under this key.
    const elsewhere = { identity: 'unidentified', tokens: makeTokenSet(Date.now()) };
    await new MemoryTokenStore({ cache, encryption }).set('elsewhere', elsewhere);
    cache.set(key, cache.get('elsewhere'));
    const events: LifecycleEvent[] = [];
    const { manager } = makeManager({ store: new MemoryTokenStore({ cache, encryption }), provider });
    manager.on('lifecycle', (event) => events.push(event));
    await expect(manager.getAccessToken()).resolves.toBe('access-2');
    // Nothing held, nothing readable stored: a sign-in.
    expect(provider.authenticateCount).toBe(2);
    expect(manager.status().counts.unreadableSessions).toBeGreaterThanOrEqual(1);
    const failures = events.flatMap((event) => (event.type === 'store-failed' ? [event.errorCode] : []));
    expect(failures).toContain(ErrorCodes.STORE_UNREADABLE);
    // Its write replaced the bad value: a new manager adopts the session.
    const { manager: next } = makeManager({ store: new MemoryTokenStore({ cache, encryption }), provider });
    await expect(next.getAccessToken()).resolves.toBe('access-2');
    expect(next.status().counts.unreadableSessions).toBe(0);
    manager.close();
    next.close();
  });

  it('signs in instead of serving a plaintext session planted under its key; its write seals the value', async () => {
    const cache = new NodeCache({ useClones: false });
    const encryption = { keys: { k1: K1 }, current: 'k1' };
    const provider = new FakeProvider({ now: () => Date.now(), identity: { id: 'id-a' } });
    const events: LifecycleEvent[] = [];
    const { manager } = makeManager({ store: new MemoryTokenStore({ cache, encryption }), provider });
    manager.on('lifecycle', (event) => events.push(event));
    // Someone with write access but no key plants a session of their own, with the right identity.
    cache.set(manager.storeKey, { identity: 'id-a', tokens: makeTokenSet(Date.now(), { accessToken: 'planted' }) });
    await expect(manager.getAccessToken()).resolves.toBe('access-1');
    expect(provider.authenticateCount).toBe(1);
    expect(manager.status().counts.unreadableSessions).toBeGreaterThanOrEqual(1);
    const failures = events.flatMap((event) => (event.type === 'store-failed' ? [event.errorCode] : []));
    expect(failures).toContain(ErrorCodes.STORE_UNREADABLE);
    expect(cache.get(manager.storeKey)).toEqual({ identity: 'id-a', sealed: expect.stringMatching(/^a1\.k1\./) });
    manager.close();
  });
});

describe('ALIX_TOKEN_ENCRYPTION_KEYS', () => {
  it('reads id:base64key pairs, the first one current', () => {
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    expect(parseEncryptionKeys(`k2:${k2}, k1:${k1}`)).toEqual({ keys: { k2, k1 }, current: 'k2' });
  });

  it.each([
    ['an entry without a colon', 'k1', /entry 1 must be keyId:base64key/],
    ['a repeated id', `k1:${K2},k1:${K2}`, /entry 2 repeats an earlier key id/],
    ['a key where its id belongs', `${K2}:k1`, /key id number 1 must be/],
    ['a short key', `k1:${randomBytes(16).toString('base64')}`, /ALIX_TOKEN_ENCRYPTION_KEYS: .* "k1" must be 32 bytes/],
  ])('refuses %s, naming the variable and no key', (_name, value, message) => {
    expect(() => parseEncryptionKeys(value)).toThrow(message);
    expect(() => parseEncryptionKeys(value)).toThrow(/^ALIX_TOKEN_ENCRYPTION_KEYS/);
    expect(() => parseEncryptionKeys(value)).not.toThrow(K2);
  });

  it('is optional in readAlixEnvConfig()', () => {
    const env = {
      ALIX_BASE_URL: 'https://api.example',
      ALIX_PARTNER_CODE: 'p',
      ALIX_SECRET_KEY: 's',
      ALIX_PRIVATE_KEY_FILE: '/k.pem',
    };
    expect(readAlixEnvConfig(env).encryption).toBeUndefined();
    const withKeys = readAlixEnvConfig({ ...env, ALIX_TOKEN_ENCRYPTION_KEYS: `k1:${K2}` });
    expect(withKeys.encryption).toEqual({ keys: { k1: K2 }, current: 'k1' });
  });

  it('gives createTokenManagerFromEnv() an encrypting store; a malformed value fails at construction', async () => {
    const { sandbox, env } = await startSandboxWithEnv();
    try {
      const manager = createTokenManagerFromEnv({ ...env, ALIX_TOKEN_ENCRYPTION_KEYS: `k1:${K2}` });
      await expect(manager.getAccessToken()).resolves.toEqual(expect.any(String));
      manager.close();
      const malformed = { ...env, ALIX_TOKEN_ENCRYPTION_KEYS: 'k1:short' };
      expect(() => createTokenManagerFromEnv(malformed)).toThrow(ConfigurationError);
    } finally {
      await sandbox.close();
    }
  });
});

describe('encrypted sessions: values a store hands back are not trusted', () => {
  beforeEach(() => useFakeClock());
  afterEach(() => jest.useRealTimers());

  it("does not let get()'s re-write of a plaintext session undo a set() made while a slow cipher sealed", async () => {
    const aes = new AesGcmTokenCipher({ keys: { k: K1 }, current: 'k' });
    const sealing: Array<() => void> = [];
    const slowKms: TokenCipher = {
      seal: async (plaintext, aad) => {
        await new Promise<void>((resolve) => sealing.push(resolve));
        return aes.seal(plaintext, aad);
      },
      open: (sealed, aad) => aes.open(sealed, aad),
    };
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    cache.set('k', { identity: 'id-a', tokens: makeTokenSet(T0, { accessToken: 'before-encryption' }) });
    const store = new MemoryTokenStore({ cache, encryption: { cipher: slowKms, readPlaintext: true } });

    const reading = store.get('k'); // finds the plaintext value and re-writes it sealed
    await Promise.resolve();
    const writing = store.set('k', { identity: 'id-a', tokens: makeTokenSet(T0, { accessToken: 'refreshed' }) });
    await Promise.resolve();
    expect(sealing).toHaveLength(2);
    sealing[1]?.();
    await writing;
    sealing[0]?.();
    await reading;
    expect((await store.get('k'))?.tokens.accessToken).toBe('refreshed');
  });

  it('reports a sealed value whose identity is not a string as unreadable, not as a TypeError', async () => {
    const cache = new NodeCache({ useClones: false, checkperiod: 0 });
    const store = new MemoryTokenStore({ cache, encryption: { keys: { k: K1 }, current: 'k' } });
    cache.set('number', { identity: 42, sealed: 'a1.k.AAAA' });
    cache.set('missing', { sealed: 'a1.k.AAAA' });
    await expect(store.get('number')).rejects.toBeInstanceOf(UnreadableSessionError);
    await expect(store.get('missing')).rejects.toBeInstanceOf(UnreadableSessionError);
  });

  it('opens a value sealed by an earlier release: the format and what it authenticates are stable', async () => {
    const cipher = new AesGcmTokenCipher({ keys: { k1: Buffer.alloc(32, 7) }, current: 'k1' });
    expect(await cipher.open('a1.k1.MTSHYVbZZWhONhS5zGSWgXMmd2LFwhqm4dUM5B5ywA5b9uE', 'aad')).toBe('{"a":1}');
  });

  it('does not open a value relabelled with another id of the same key, nor with another format', async () => {
    const cipher = new AesGcmTokenCipher({ keys: { k1: K1, k2: K1 }, current: 'k1' });
    const sealed = await cipher.seal('plain', 'aad');
    expect(await cipher.open(sealed.replace('.k1.', '.k2.'), 'aad')).toBeUndefined();
    expect(await cipher.open(`a2${sealed.slice(2)}`, 'aad')).toBeUndefined();
  });

  it('does not open a sealed value with characters appended or inserted that base64url decoding would skip', async () => {
    const cipher = new AesGcmTokenCipher({ keys: { k: K1 }, current: 'k' });
    const sealed = await cipher.seal('{"a":1}', 'aad');
    expect(await cipher.open(sealed, 'aad')).toBe('{"a":1}');
    const at = sealed.length - 10;
    for (const altered of [`${sealed}=`, `${sealed}!!`, `${sealed.slice(0, at)}*${sealed.slice(at)}`, `${sealed} `]) {
      expect(await cipher.open(altered, 'aad')).toBeUndefined();
    }
    expect(await cipher.open(`${sealed}.extra`, 'aad')).toBeUndefined();
  });

  it.each(['{"accessToken":""}', 'not JSON'])(
    'reads a value that decrypts to %j (no token set) as unreadable',
    async (text) => {
      const cache = new NodeCache({ useClones: false, checkperiod: 0 });
      const cipher: TokenCipher = { seal: async () => 'sealed', open: async () => text };
      const store = new MemoryTokenStore({ cache, encryption: { cipher } });
      cache.set('k', { identity: 'id-a', sealed: 'sealed' });
      await expect(store.get('k')).rejects.toBeInstanceOf(UnreadableSessionError);
    },
  );

  it('seals only the token set’s own fields, and returns only those when a value opens', async () => {
    const plaintexts: string[] = [];
    const tokens = makeTokenSet(T0);
    const extra = JSON.stringify({ ...tokens, serverTime: T0, note: 'kept by someone else' });
    const cipher: TokenCipher = {
      seal: async (plaintext) => (plaintexts.push(plaintext), 'sealed'),
      open: async () => extra,
    };
    const store = new MemoryTokenStore({ encryption: { cipher } });
    await store.set('k', { identity: 'id-a', tokens: { ...tokens, serverTime: T0 } });
    expect(JSON.parse(plaintexts[0] ?? '')).toEqual(tokens);
    expect(await store.get('k')).toEqual({ identity: 'id-a', tokens });
  });
});
