/**
 * Options of the sandbox core, their defaults, and their one-time validation; and the fake
 * cards `GET /api/v2/cards` returns.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { systemClock } from '../clock';
import { definedOnly } from '../defaults';
import { ConfigurationError, assertConfig } from '../errors';
import { TEN_YEARS_MS } from '../token-set';
import { generatePartnerKeyPairSync } from './keys';
import type { SandboxAuthCallListener } from './types';

/** One fake Alix card. */
export interface SandboxCard {
  id: string;
  last4: string;
  status: 'active' | 'frozen';
  currency: string;
  /** Balance in minor units (cents). */
  balance: number;
}

/** The cards a sandbox serves unless given others. */
export const DEFAULT_SANDBOX_CARDS: readonly SandboxCard[] = Object.freeze([
  Object.freeze({ id: 'card_sandbox_0001', last4: '4242', status: 'active', currency: 'USD', balance: 125_000 }),
  Object.freeze({ id: 'card_sandbox_0002', last4: '1881', status: 'active', currency: 'EUR', balance: 9_950 }),
  Object.freeze({ id: 'card_sandbox_0003', last4: '0005', status: 'frozen', currency: 'USD', balance: 0 }),
] as const satisfies readonly SandboxCard[]);

/**
 * Strict readings of the Alix page, where its tables and its sample disagree. By default the
 * sandbox is lenient and answers as the sample does; each flag makes it behave as one table
 * reads, so a client can be tested against a server that enforces it.
 */
export interface SandboxStrictOptions {
  /**
   * Refuse a refresh whose body has no `userEmail` (400, errorCode 10), as the page's refresh
   * field table reads (it marks `userEmail` required).
   * @default false
   */
  refreshUserEmail?: boolean | undefined;
  /**
   * Send expiries as ISO 8601 datetimes in UTC (`2024-11-11T08:47:58Z`) named
   * `accessTokenExpiredAt` / `refreshTokenExpiredAt`, as the page's response table reads,
   * instead of the sample's epoch-second strings named `…ExpiresAt`.
   * @default false
   */
  datetimeExpiries?: boolean | undefined;
}

/** Options of {@link AlixSandboxCore} (and so of `startAlixSandbox()` and `alixHandlers()`). */
export interface AlixSandboxOptions {
  /**
   * The one partner code the sandbox knows.
   * @default 'sandbox-partner'
   */
  partnerCode?: string | undefined;
  /**
   * The partner's secret key, the second half of the signed `partnerCode|secretKey`.
   * @default 'sandbox-secret'
   */
  secretKey?: string | undefined;
  /**
   * The partner's RSA public key (PEM) that signatures are verified with.
   * @default derived from `privateKeyPem`, or from a freshly generated 2048-bit pair
   */
  publicKeyPem?: string | undefined;
  /**
   * The partner's RSA private key (PEM). The sandbox never signs with it; it only exposes it
   * (and derives the public key from it) so tests can pass one pre-made key to many sandboxes
   * instead of paying for a key generation each.
   * @default generated when `publicKeyPem` is not given either
   */
  privateKeyPem?: string | undefined;
  /**
   * Lifetime of issued access tokens, in ms (rounded up to whole seconds on the wire).
   * @default 900_000 (15 minutes)
   */
  accessTokenTtlMs?: number | undefined;
  /**
   * Lifetime of issued refresh tokens, in ms.
   * @default 15_552_000_000 (180 days)
   */
  refreshTokenTtlMs?: number | undefined;
  /**
   * The sandbox's base clock, epoch ms; `shiftClock()` adds to it.
   * @default Date.now
   */
  now?: (() => number) | undefined;
  /**
   * The HS256 secret issued tokens are signed with.
   * @default 32 random bytes
   */
  tokenSigningSecret?: string | undefined;
  /**
   * What `GET /api/v2/cards` returns.
   * @default DEFAULT_SANDBOX_CARDS
   */
  cards?: readonly SandboxCard[] | undefined;
  /** A first listener for auth calls (more with `onAuthCall()`). @default none */
  onAuthCall?: SandboxAuthCallListener | undefined;
  /**
   * Which of the page's tables to enforce where they disagree with its sample.
   * @default { refreshUserEmail: false, datetimeExpiries: false } (the sample's reading)
   */
  strict?: SandboxStrictOptions | undefined;
}

/** The defaults of {@link AlixSandboxOptions} that are constants. */
export const DEFAULT_ALIX_SANDBOX_OPTIONS = Object.freeze({
  partnerCode: 'sandbox-partner',
  secretKey: 'sandbox-secret',
  accessTokenTtlMs: 15 * 60 * 1000,
  refreshTokenTtlMs: 180 * 24 * 60 * 60 * 1000,
  now: systemClock.now,
  cards: DEFAULT_SANDBOX_CARDS,
  strict: Object.freeze({ refreshUserEmail: false, datetimeExpiries: false } satisfies Required<SandboxStrictOptions>),
});

const isNonEmptyString = (value: unknown): boolean => typeof value === 'string' && value !== '';
const isFunction = (value: unknown): boolean => typeof value === 'function';
const isObject = (value: unknown): boolean => typeof value === 'object' && value !== null;
const isPositiveNumber = (value: unknown): boolean => Number.isFinite(value) && (value as number) > 0;
// A client refuses an expiry over 10 years away (as the provider does), and a far one cannot be written as a date.
const isTokenTtl = (value: unknown): boolean => isPositiveNumber(value) && (value as number) <= TEN_YEARS_MS;

/** What each option must be when set (after defaults, so only the optional ones can be missing). */
const OPTION_RULES: ReadonlyArray<[keyof AlixSandboxOptions, string, (value: unknown) => boolean]> = [
  ['partnerCode', 'a non-empty string', isNonEmptyString],
  ['secretKey', 'a non-empty string', isNonEmptyString],
  ['accessTokenTtlMs', 'a positive number of ms, at most 10 years', isTokenTtl],
  ['refreshTokenTtlMs', 'a positive number of ms, at most 10 years', isTokenTtl],
  ['now', 'a function', isFunction],
  ['cards', 'an array of objects', (value) => Array.isArray(value) && value.every((card) => isObject(card))],
  ['tokenSigningSecret', 'a non-empty string', isNonEmptyString],
  ['onAuthCall', 'a function', isFunction],
  ['strict', 'an object', isObject],
];

/** A PEM option parsed, and checked to be RSA. */
function parseKey(name: 'privateKeyPem' | 'publicKeyPem', pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = name === 'privateKeyPem' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (error) {
    throw new ConfigurationError(`sandbox option ${name} is not a PEM key`, { cause: error });
  }
  const type = key.asymmetricKeyType ?? 'unknown';
  assertConfig(type === 'rsa', `sandbox option ${name} must be an RSA key (got ${type})`);
  return key;
}

/** The key pair: generated when neither half is given, else parsed, checked to be RSA and to match. */
function resolveKeys(options: AlixSandboxOptions) {
  const keyless = options.publicKeyPem === undefined && options.privateKeyPem === undefined;
  const { privateKeyPem, publicKeyPem } = keyless ? generatePartnerKeyPairSync() : options;
  const derived = privateKeyPem === undefined ? undefined : createPublicKey(parseKey('privateKeyPem', privateKeyPem));
  const publicKey = publicKeyPem === undefined ? (derived as KeyObject) : parseKey('publicKeyPem', publicKeyPem);
  const paired = derived === undefined || derived.equals(publicKey);
  assertConfig(paired, 'sandbox options privateKeyPem and publicKeyPem are not one key pair');
  return { publicKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), privateKeyPem };
}

function resolveStrict(strict: SandboxStrictOptions = {}): Readonly<Required<SandboxStrictOptions>> {
  const resolved = { ...DEFAULT_ALIX_SANDBOX_OPTIONS.strict, ...definedOnly(strict) };
  for (const [name, value] of Object.entries(resolved)) {
    assertConfig(Object.hasOwn(DEFAULT_ALIX_SANDBOX_OPTIONS.strict, name), `sandbox option strict.${name} is unknown`);
    assertConfig(typeof value === 'boolean', `sandbox option strict.${name} must be a boolean`);
  }
  return Object.freeze(resolved);
}

/**
 * Merges the defaults once and validates everything.
 * @throws {ConfigurationError} on a bad option.
 */
export function resolveSandboxOptions(options: AlixSandboxOptions = {}) {
  const merged = { ...DEFAULT_ALIX_SANDBOX_OPTIONS, ...definedOnly(options) };
  for (const [name, what, valid] of OPTION_RULES) {
    assertConfig(merged[name] === undefined || valid(merged[name]), `sandbox option ${name} must be ${what}`);
  }
  return { ...merged, ...resolveKeys(options), strict: resolveStrict(options.strict) };
}

/**
 * Options after defaults and validation; `privateKeyPem`, `onAuthCall` and `tokenSigningSecret`
 * stay optional.
 */
export type ResolvedSandboxOptions = ReturnType<typeof resolveSandboxOptions>;
