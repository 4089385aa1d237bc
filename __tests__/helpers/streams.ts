import { Writable } from 'node:stream';

/**
 * A writable stream that keeps what was written to it (synchronously), optionally claiming to
 * be a terminal, for code that writes to stdout or stderr.
 */
export function collectingStream<T extends boolean = false>(
  options: { isTTY?: T } = {},
): { stream: Writable & { isTTY: T }; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream: Object.assign(stream, { isTTY: (options.isTTY ?? false) as T }), text: () => text };
}
