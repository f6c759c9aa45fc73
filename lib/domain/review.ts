import { z } from 'zod';

/**
 * "Approve with changes": a smaller key than the tier's, never a larger one. Under LiteLLM's own
 * names, as minted (POST /key/generate); each is at most what the model's limits say.
 */
export const limitChangesSchema = z.strictObject({
  duration: z
    .string()
    .regex(/^[1-9]\d*(s|m|h|d|w)$/, 'expected a duration such as "7d" or "12h"')
    .optional(),
  max_budget: z.number().positive('expected a budget above 0').max(1_000_000).optional(),
  rpm_limit: z.int().positive().max(10_000_000).optional(),
  tpm_limit: z.int().positive().max(1_000_000_000).optional(),
});
export type LimitChanges = z.infer<typeof limitChangesSchema>;

/** One person's (or system's) review of a request held for review, as the request keeps it. */
export const reviewSchema = z.object({
  /** `<email>`, `webhook:<client>` or `kubectl`. */
  by: z.string().min(1).max(300),
  /** The approver a delegate stood in for ("X for Y"). */
  for: z.string().min(1).max(300).optional(),
  decision: z.enum(['approve', 'deny']),
  reason: z.string().max(500).optional(),
  /** The stage it was given in. */
  stage: z.string().min(1).max(60),
  at: z.string(),
  changes: limitChangesSchema.optional(),
  /** An administrator's override (kubectl label, or the webhook configured so): it decides outright. */
  override: z.boolean().optional(),
  /** Where a person gave it, when not in the portal: the message and the emails say so. */
  via: z.enum(['slack']).optional(),
});
export type Review = z.infer<typeof reviewSchema>;

/** At most this many reviews are kept on a request (an annotation has room for far more; people do not). */
export const MAX_REVIEWS = 50;
export const reviewsSchema = z.array(reviewSchema).max(MAX_REVIEWS);

/*
 * How a review reads to people lives in review-words.ts, free of zod: the status page and the
 * queue show it in the browser, and importing it from here put the validation library in both
 * pages' bundles (+31 kB gzip each).
 */
export { describeChanges, describeReview, reviewerName } from './review-words';
