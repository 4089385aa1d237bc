import type { AccessTokenSource } from '../../src/adapters/types';
import type { InvalidateOptions } from '../../src/manager/types';

/**
 * A tiny AccessTokenSource with the TokenManager's single-flight semantics: tokens are
 * `${prefix}-0`, `${prefix}-1`, …; `invalidate(current)` starts one refresh (on a later
 * microtask), `invalidate(old)` does nothing, and `getAccessToken()` waits for a running refresh.
 * A report that a replay was rejected too (a 401 storm) is noted in `storms` and refreshes nothing.
 */
export class FakeTokenSource implements AccessTokenSource {
  refreshCount = 0;
  readonly invalidated: (string | undefined)[] = [];
  /** The targets of the rejected replays reported. */
  readonly storms: string[] = [];
  private current: string;
  private pending: Promise<string> | undefined;

  constructor(private readonly prefix = 'token') {
    this.current = `${prefix}-0`;
  }

  /** The token the next getAccessToken() returns once no refresh is running. */
  get token(): string {
    return this.current;
  }

  /** The name the next refresh will issue. */
  get nextToken(): string {
    return `${this.prefix}-${this.refreshCount + 1}`;
  }

  async getAccessToken(): Promise<string> {
    return this.pending ?? this.current;
  }

  invalidate(rejectedAccessToken?: string, options?: InvalidateOptions): void {
    if (options?.replay === true) {
      this.storms.push(options.target ?? '');
      return;
    }
    this.invalidated.push(rejectedAccessToken);
    if (rejectedAccessToken !== undefined && rejectedAccessToken !== this.current) return;
    this.refresh();
  }

  /** Refreshes (single flight) and resolves to the new token. */
  refresh(): Promise<string> {
    this.pending ??= Promise.resolve().then(() => {
      this.refreshCount += 1;
      this.current = `${this.prefix}-${this.refreshCount}`;
      this.pending = undefined;
      return this.current;
    });
    return this.pending;
  }
}
