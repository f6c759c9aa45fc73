import { describe, expect, it } from 'vitest';
import { PortalError } from '@/lib/portal/errors';
import { ACTION_LIMITS, ActionLimiter } from '@/lib/portal/rate-limit';

describe('reveal, decisions and the webhook are rate limited per caller', () => {
  it('allows the minute’s share, then answers 429 with Retry-After until the window slides on', () => {
    let t = 0;
    const limiter = new ActionLimiter(() => t);
    for (let i = 0; i < ACTION_LIMITS.reveal; i++) limiter.check('reveal', 'ada@example.com');
    t = 20_000;
    let err: unknown;
    try {
      limiter.check('reveal', 'ada@example.com');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PortalError);
    expect(err).toMatchObject({ status: 429, details: { retryAfterSeconds: 40 } });
    expect((err as Error).message).toMatch(/^at most 10 reveal calls a minute; try again in 40 s$/);
    // Someone else, or another action, is not held up.
    expect(() => limiter.check('reveal', 'bob@example.com')).not.toThrow();
    expect(() => limiter.check('decide', 'ada@example.com')).not.toThrow();
    t = 60_001;
    expect(() => limiter.check('reveal', 'ada@example.com')).not.toThrow();
  });
});
