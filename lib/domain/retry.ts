import { z } from 'zod';

/** Stored on a request while a step waits for a retry, so its status page can say so. */
export const retryInfoSchema = z.object({
  step: z.enum(['mint', 'notify', 'revoke', 'budget']),
  attempt: z.int().positive(),
  /** When the next attempt is due (RFC 3339). */
  at: z.string(),
  /** When this step first failed (RFC 3339): the retry budget counts from here. */
  since: z.string().optional(),
  error: z.string().max(500),
});
export type RetryInfo = z.infer<typeof retryInfoSchema>;

/** Capped exponential backoff with jitter: 1 s, 2 s, 4 s, ... up to `maxSeconds`. */
export function backoffSeconds(attempt: number, initialSeconds: number, maxSeconds: number, random: () => number = Math.random): number {
  const base = Math.min(maxSeconds, initialSeconds * 2 ** Math.max(0, attempt - 1));
  // +-20% jitter so replicas and requests that failed together do not retry in lockstep.
  return Math.min(maxSeconds, base * (0.8 + 0.4 * random()));
}
