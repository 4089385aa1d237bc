/**
 * Scenario 3, stampede after revocation: the sandbox revokes the access token, then N
 * requests start at once. Counts auth calls, outcomes and how often each request was sent.
 */
import { AlixAuthProvider } from '../../src/index';
import { generatePartnerKeyPair, startAlixSandbox } from '../../src/sandbox/index';
import { createContender, type ContenderName } from '../lib/contenders';
import { REQUEST_ID_HEADER, countSends } from '../lib/http';

export interface StampedeRun {
  refreshCalls: number;
  signIns: number;
  successes: number;
  failures: number;
  /** Logical requests the server received more than twice. */
  sentMoreThanTwice: number;
  maxSends: number;
  server401s: number;
  wallMs: number;
}

export interface StampedeResult {
  n: number;
  maxSockets: number;
  runs: Record<ContenderName, StampedeRun[]>;
}

/** Sockets per client: without a cap, 10,000 concurrent requests would need 20,000 descriptors. */
const MAX_SOCKETS = 100;
const CONTENDERS: readonly ContenderName[] = ['ours', 'aar', 'aar-no-dedupe'];

async function stampedeOnce(name: ContenderName, n: number, privateKeyPem: string): Promise<StampedeRun> {
  const sandbox = await startAlixSandbox({ privateKeyPem });
  const provider = new AlixAuthProvider({
    baseUrl: sandbox.url,
    partnerCode: sandbox.partnerCode,
    secretKey: sandbox.secretKey,
    privateKey: sandbox.privateKeyPem,
  });
  const contender = await createContender(name, sandbox.url, provider, MAX_SOCKETS);
  try {
    const sends = countSends(contender.api);
    await contender.api.get('/api/v2/cards', { headers: { [REQUEST_ID_HEADER]: 'warm-up' } });
    sandbox.revokeAccessTokens();
    sandbox.resetCounters();
    sends.clear();

    const start = performance.now();
    const outcomes = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        contender.api.get('/api/v2/cards', { headers: { [REQUEST_ID_HEADER]: String(i) }, timeout: 60_000 }),
      ),
    );
    const wallMs = performance.now() - start;
    const counters = sandbox.counters();
    const successes = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
    const counts = [...sends.values()];
    return {
      refreshCalls: counters.refresh,
      signIns: counters.authenticate,
      successes,
      failures: n - successes,
      sentMoreThanTwice: counts.filter((count) => count > 2).length,
      maxSends: Math.max(0, ...counts),
      server401s: counters.resource401s,
      wallMs,
    };
  } finally {
    contender.close();
    await sandbox.close();
  }
}

/** Runs the stampede at each N for every contender, rotating the order from run to run. */
export async function runStampede(sizes: readonly number[], quick: boolean): Promise<StampedeResult[]> {
  const { privateKeyPem } = await generatePartnerKeyPair();
  for (const name of CONTENDERS) await stampedeOnce(name, 50, privateKeyPem); // warm-up, discarded
  const results: StampedeResult[] = [];
  for (const n of sizes) {
    const runCount = quick ? 1 : n > 1_000 ? 3 : 5;
    const runs: Record<ContenderName, StampedeRun[]> = { ours: [], aar: [], 'aar-no-dedupe': [] };
    for (let run = 0; run < runCount; run += 1) {
      for (let k = 0; k < CONTENDERS.length; k += 1) {
        const name = CONTENDERS[(run + k) % CONTENDERS.length] as ContenderName;
        runs[name].push(await stampedeOnce(name, n, privateKeyPem));
      }
    }
    results.push({ n, maxSockets: MAX_SOCKETS, runs });
  }
  return results;
}
