/**
 * The Alix signature is deterministic (RSA-SHA256 over `partnerCode|secretKey`), so an API
 * message echoing it in any encoding is a leaked credential: the provider's errors and the
 * manager's `status().lastError` carry the message's words, never the echo.
 */
import { constants, sign } from 'node:crypto';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { AuthRejectedError } from '../../../src/errors';
import { TokenManager } from '../../../src/manager/token-manager';
import { AlixAuthProvider } from '../../../src/providers/alix';
import { REDACTED } from '../../../src/redaction';
import { makeRsaKeyPair } from '../../helpers/alix-keys';

const BASE_URL = 'https://alix.test';
const PARTNER_CODE = 'zencardtest';
const SECRET_KEY = 'rjgQDe8QVlnP9AJL';
const keys = makeRsaKeyPair();
const raw = sign('sha256', Buffer.from(`${PARTNER_CODE}|${SECRET_KEY}`), {
  key: keys.privateKey,
  padding: constants.RSA_PKCS1_PADDING,
});
const SIGNATURE = raw.toString('base64');

const ECHOES: Array<[label: string, echo: string]> = [
  ['base64url', raw.toString('base64url')],
  ['hex', raw.toString('hex')],
  ['hex in dash-separated groups of 8', raw.toString('hex').match(/.{8}/g)?.join('-') ?? ''],
  ['split by a space in two', `${SIGNATURE.slice(0, 24)} ${SIGNATURE.slice(24)}`],
  ['split by a space in eight', SIGNATURE.match(/.{1,43}/g)?.join(' ') ?? ''],
  ['without its last character', SIGNATURE.slice(0, -1)],
];

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function provider(): AlixAuthProvider {
  return new AlixAuthProvider({
    baseUrl: BASE_URL,
    partnerCode: PARTNER_CODE,
    secretKey: SECRET_KEY,
    privateKey: keys.privatePem,
  });
}

function answerSignInWith(message: string): void {
  server.use(
    http.post(`${BASE_URL}/api/v2/auth/access-token`, () =>
      HttpResponse.json({ success: false, message, data: null, errorCode: 12 }, { status: 400 }),
    ),
  );
}

/** The 16-character stretches of the echo (separators removed) found in `text`. */
function leakedFragments(echo: string, text: string): string[] {
  const compact = echo.replace(/ /g, '');
  const fragments = Array.from({ length: compact.length - 15 }, (_, i) => compact.slice(i, i + 16));
  return fragments.filter((fragment) => text.includes(fragment));
}

describe('AlixAuthProvider › an API message echoing the signature', () => {
  it.each(ECHOES)('keeps the signature echoed as %s out of error.message', async (_label, echo) => {
    answerSignInWith(`Signature mismatch for partner ${PARTNER_CODE}: got ${echo}`);

    const error = await provider()
      .authenticate()
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(AuthRejectedError);
    const { message, apiMessage } = error as AuthRejectedError;
    expect(apiMessage).toMatch(new RegExp(`^Signature mismatch for partner ${PARTNER_CODE}: got \\[REDACTED\\]`));
    expect(leakedFragments(echo, message)).toEqual([]);
    expect(leakedFragments(echo, JSON.stringify(error))).toEqual([]);
  });

  it.each(ECHOES)('keeps the signature echoed as %s out of status().lastError', async (_label, echo) => {
    answerSignInWith(`Signature mismatch: got ${echo}`);
    const manager = new TokenManager({ provider: provider() });

    await expect(manager.getAccessToken()).rejects.toBeInstanceOf(AuthRejectedError);
    const lastError = manager.status().lastError;
    manager.close();

    expect(lastError?.message).toContain(`Signature mismatch: got ${REDACTED}`);
    expect(leakedFragments(echo, JSON.stringify(lastError))).toEqual([]);
  });
});
