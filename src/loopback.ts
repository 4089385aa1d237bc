/**
 * True for `localhost`, 127.0.0.0/8 and `::1` (as `URL#hostname` spells them): the only
 * hosts that plain `http://` is accepted for, by the auth provider and by the adapters. Not
 * `localhost.`: as an absolute name it is looked up in DNS, which may send it anywhere.
 */
export function isLoopbackHost(hostname: string): boolean {
  return /^(?:localhost|\[::1\]|127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.test(hostname);
}
