import { PortalError } from './errors';

/** What each action allows one caller per minute, on one replica. */
export const ACTION_LIMITS = {
  /** Revealing a key: a person has few keys; many reveals are someone guessing ids. */
  reveal: 10,
  /** An approver working through a queue decides quickly, but not hundreds a minute. */
  decide: 120,
  /** An HR system may batch, per caller. */
  webhook: 600,
} as const;

/**
 * A sliding one-minute window per (action, caller), in memory. Creation is limited from the store
 * (every replica agrees); these actions change nothing a caller could pile up, so a per-replica
 * bound is enough: N replicas allow at most N times the figure. Bounded in size.
 */
export class ActionLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly now: () => number = () => Date.now(),
    private readonly maxKeys = 50_000,
  ) {}

  /** Throws a 429 with Retry-After when `caller` has used up `action`'s minute. */
  check(action: keyof typeof ACTION_LIMITS, caller: string): void {
    const limit = ACTION_LIMITS[action];
    const key = `${action}\n${caller}`;
    const t = this.now();
    const recent = (this.hits.get(key) ?? []).filter((at) => at > t - 60_000);
    if (recent.length >= limit) {
      const retry = Math.max(1, Math.ceil(((recent[0] as number) + 60_000 - t) / 1000));
      throw new PortalError(429, 'rate_limited', `at most ${limit} ${action} calls a minute; try again in ${retry} s`, { retryAfterSeconds: retry });
    }
    recent.push(t);
    this.hits.delete(key);
    if (this.hits.size >= this.maxKeys) this.hits.delete(this.hits.keys().next().value as string);
    this.hits.set(key, recent);
  }
}
