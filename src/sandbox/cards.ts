/** The fake cards `GET /api/v2/cards` returns. */

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
