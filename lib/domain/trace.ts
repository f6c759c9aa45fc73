import { z } from 'zod';

/** What a plugin may answer about a request (DESIGN.md "Plugins"). */
export const OUTCOMES = ['approve', 'deny', 'continue', 'review'] as const;
export const outcomeSchema = z.enum(OUTCOMES);
export type Outcome = z.infer<typeof outcomeSchema>;

/** One plugin's answer as the request keeps it, so the decision can be shown and audited. */
export const traceEntrySchema = z.object({
  plugin: z.string(),
  outcome: outcomeSchema,
  reason: z.string(),
  ms: z.number().nonnegative(),
  failed: z.boolean().optional(),
});
export type TraceEntry = z.infer<typeof traceEntrySchema>;
export const traceSchema = z.array(traceEntrySchema).max(50);
