/** The pool's cap on concurrent auth calls: permits, the queue in arrival order, and waiters that give up. */
import { AuthSemaphore } from '../../src/pool/semaphore';

describe('AuthSemaphore', () => {
  it('takes a waiter whose signal aborts out of the queue at once, and hands the permit to the next one', async () => {
    const semaphore = new AuthSemaphore(1);
    const release = await semaphore.gate(new AbortController().signal);
    const leaving = new AbortController();
    const left = semaphore.gate(leaving.signal);
    const staying = semaphore.gate(new AbortController().signal);
    expect(semaphore.status()).toEqual({ inFlight: 1, peak: 1, queued: 2, max: 1 });
    leaving.abort(new Error('deadline'));
    await expect(left).rejects.toThrow('deadline');
    expect(semaphore.status()).toMatchObject({ inFlight: 1, queued: 1 });
    release();
    const next = await staying;
    expect(semaphore.status()).toEqual({ inFlight: 1, peak: 1, queued: 0, max: 1 });
    next();
    expect(semaphore.status()).toMatchObject({ inFlight: 0, queued: 0 });
  });
});
