import { randomBytes } from 'node:crypto';
import NodeCache from 'node-cache';
import { describeTokenStoreConformance } from '../../src/sandbox/index';
import { MemoryTokenStore } from '../../src/stores/memory';

/** Every store made for one file shares one cache, as two managers of one process share a store's cache. */
const cache = new NodeCache({ useClones: false, checkperiod: 0 });
afterAll(() => cache.close());
/** A short open period: the breaker checks wait for one probe. */
const breaker = { openMs: 100 };

describeTokenStoreConformance('MemoryTokenStore', () => new MemoryTokenStore({ cache, breaker }));

const encryptedCache = new NodeCache({ useClones: false, checkperiod: 0 });
afterAll(() => encryptedCache.close());
const encryption = { keys: { k1: randomBytes(32) }, current: 'k1' };

const createEncrypted = (): MemoryTokenStore => new MemoryTokenStore({ cache: encryptedCache, encryption, breaker });

describeTokenStoreConformance('MemoryTokenStore with encryption', createEncrypted, {
  encryption: {
    read: async (key) => {
      const value: unknown = encryptedCache.get(key);
      return value === undefined ? undefined : JSON.stringify(value);
    },
    write: async (key, value) => {
      encryptedCache.set(key, JSON.parse(value) as unknown);
    },
  },
});
