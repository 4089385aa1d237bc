/**
 * A caller's AbortSignal abandons that caller's wait only: one 'abort' listener per signal however
 * many waits share it, and nothing of a wait is left on the signal once the work settled.
 */
import { getEventListeners } from 'node:events';
import { AbortedError } from '../src/errors';
import { onAbort, waitWithSignal } from '../src/wait-with-signal';

describe('waitWithSignal()', () => {
  it('rejects at once for a signal aborted already, and leaves the late failure of the work handled', async () => {
    const controller = new AbortController();
    controller.abort();
    let fail: (error: Error) => void = () => undefined;
    const work = new Promise<string>((_resolve, reject) => (fail = reject));
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);

    await expect(waitWithSignal(work, controller.signal)).rejects.toBeInstanceOf(AbortedError);
    fail(new Error('late'));
    await new Promise((resolve) => setImmediate(resolve));

    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('does not build an abort error for a wait that settled before the signal fired', async () => {
    const controller = new AbortController();
    const onAbortError = jest.fn(() => new AbortedError());

    await expect(waitWithSignal(Promise.resolve('token'), controller.signal, onAbortError)).resolves.toBe('token');
    controller.abort();

    expect(onAbortError).not.toHaveBeenCalled();
  });

  it('adds one abort listener to a signal however many waits share it', async () => {
    const controller = new AbortController();
    const waits = Array.from({ length: 100 }, () => waitWithSignal(new Promise(() => undefined), controller.signal));

    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    await Promise.all(waits.map((wait) => expect(wait).rejects.toBeInstanceOf(AbortedError)));
  });
});

describe('onAbort()', () => {
  it('calls a callback once the signal aborts, unless it was cancelled', () => {
    const controller = new AbortController();
    const kept = jest.fn();
    const cancelled = jest.fn();
    onAbort(controller.signal, kept);
    const cancel = onAbort(controller.signal, cancelled);

    cancel();
    controller.abort();

    expect(kept).toHaveBeenCalledTimes(1);
    expect(cancelled).not.toHaveBeenCalled();
  });
});
