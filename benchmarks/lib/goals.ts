/** Goal verdicts shared by the report's sections. */

/** One row of the report's goals table. */
export interface Goal {
  scenario: string;
  goal: string;
  result: string;
  /** null: no verdict (reported only, or skipped). */
  met: boolean | null;
}

/** An auth call per token lifetime within these bounds counts as "one" (as for the expiry scenario). */
export const ONE_PER_LIFETIME = { min: 0.8, max: 1.25 } as const;
