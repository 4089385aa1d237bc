/** Which request bodies the adapters may send a second time (a 401 replay): those held in memory, never a consumed stream. */
import { Readable } from 'node:stream';
import { isReplayableBody } from '../../src/adapters/authorize';

describe('isReplayableBody()', () => {
  it.each([
    ['no body', undefined],
    ['a string', '{"a":1}'],
    ['URLSearchParams', new URLSearchParams('a=1')],
    ['an ArrayBuffer', new ArrayBuffer(4)],
    ['a Uint8Array', new Uint8Array(4)],
    ['a Blob', new Blob(['a'])],
    ['FormData', new FormData()],
    ['a plain object', { a: 1 }],
  ])('replays %s', (_what, body) => {
    expect(isReplayableBody(body)).toBe(true);
  });

  it.each([
    ['a Node stream', Readable.from(['a'])],
    ['a web ReadableStream', new ReadableStream()],
    [
      'an async iterable that is no stream',
      (async function* chunks() {
        yield 'a';
      })(),
    ],
    [
      'an object that is only async-iterable',
      { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true }) }) },
    ],
  ])('never replays %s (the first send consumed it)', (_what, body) => {
    expect(isReplayableBody(body)).toBe(false);
  });
});
