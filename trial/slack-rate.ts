/**
 * Slack's rate limits, following "Rate limits" (https://api.slack.com/apis/rate-limits):
 * limits are per method, per app per workspace (here: per token); Tier 3 is about 50 calls a
 * minute and Tier 4 about 100, with bursts tolerated; chat.postMessage is "special": about one
 * message a second per channel, short bursts allowed. Over the limit Slack answers HTTP 429 with
 * `Retry-After: <seconds>` and does not perform the call.
 */

/** A tiered method: at most `perMinute` calls in any 60 seconds. */
export interface PerMinuteLimit {
  perMinute: number;
}

/** chat.postMessage: a bucket per channel refilling `perChannelPerSecond`, holding at most `burst`. */
export interface PerChannelLimit {
  perChannelPerSecond: number;
  burst: number;
}

/**
 * Overrides by method name. A method named neither here nor in DEFAULT_RATE_LIMITS takes
 * `default`. Tests that are not about rate limits can pass `'off'` to the double instead.
 */
export interface SlackRateLimits {
  'chat.postMessage'?: PerChannelLimit;
  default?: PerMinuteLimit;
  [method: string]: PerMinuteLimit | PerChannelLimit | undefined;
}

/** The tiers each method has on its page (https://api.slack.com/methods/<method>, "Rate limits"). */
export const DEFAULT_RATE_LIMITS: SlackRateLimits = {
  'chat.postMessage': { perChannelPerSecond: 1, burst: 5 },
  'chat.update': { perMinute: 50 }, // Tier 3
  'chat.postEphemeral': { perMinute: 100 }, // Tier 4
  'users.info': { perMinute: 100 }, // Tier 4
  'users.lookupByEmail': { perMinute: 50 }, // Tier 3
  'usergroups.users.list': { perMinute: 50 }, // Tier 3
  'views.open': { perMinute: 100 }, // Tier 4
  'conversations.open': { perMinute: 50 }, // Tier 3
  'auth.test': { perMinute: 100 }, // "Special": generous; Tier 4 here
  default: { perMinute: 50 },
};

/** Counts calls and answers how many seconds a caller must wait, or undefined to let the call through. */
export class RateLimiter {
  private readonly windows = new Map<string, number[]>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly limits: SlackRateLimits | 'off') {}

  /**
   * Takes one call of `method` for `token` (and `channel`, for chat.postMessage). Answers undefined
   * when the call may go ahead (and counts it), or the whole seconds until it could (at least 1).
   */
  take(method: string, token: string, channel: string | undefined, now = Date.now()): number | undefined {
    if (this.limits === 'off') return undefined;
    const limit = this.limits[method] ?? DEFAULT_RATE_LIMITS[method] ?? this.limits.default ?? DEFAULT_RATE_LIMITS.default;
    if (!limit) return undefined;
    if ('perChannelPerSecond' in limit) return this.takeFromBucket(`${token} ${method} ${channel ?? ''}`, limit, now);
    return this.takeFromWindow(`${token} ${method}`, limit, now);
  }

  // A token bucket: a burst of `burst` posts, then one per 1/rate seconds; Retry-After is when
  // the bucket holds a whole token again.
  private takeFromBucket(key: string, limit: PerChannelLimit, now: number): number | undefined {
    const b = this.buckets.get(key) ?? { tokens: limit.burst, at: now };
    b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perChannelPerSecond);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / limit.perChannelPerSecond));
  }

  // A sliding minute: Retry-After is when the oldest call in the window leaves it.
  private takeFromWindow(key: string, limit: PerMinuteLimit, now: number): number | undefined {
    const calls = (this.windows.get(key) ?? []).filter((t) => t > now - 60_000);
    this.windows.set(key, calls);
    if (calls.length < limit.perMinute) {
      calls.push(now);
      return undefined;
    }
    const oldest = calls[calls.length - limit.perMinute] ?? now;
    return Math.max(1, Math.ceil((oldest + 60_000 - now) / 1000));
  }
}
