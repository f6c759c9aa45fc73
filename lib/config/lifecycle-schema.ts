import { z } from 'zod';

/**
 * `lifecycle`: what happens to a key's budget while it lives (lib/budget/). Spend is read from
 * the gateway (`/key/info` by hash, `/user/daily/activity`), never guessed.
 */
export const lifecycleSchema = z.strictObject({
  topUp: z
    .strictObject({
      /** The requester is told once per budget period when the key's spend reaches this share of its budget. */
      notifyAtPercent: z.int().min(1).max(100).default(80),
      /** How often the leader checks the spend of keys with a budget; a key under half its budget is checked every fourth time. */
      checkMinutes: z.int().min(1).max(1440).default(15),
      /** At most this many `/key/info` calls a second for the spend check, so the gateway is never flooded. */
      checksPerSecond: z.number().positive().max(1000).default(10),
      /**
       * Without a tier's `maxBudget`, the most a key's budget may reach with top-ups (and a
       * renewal be sized to) is this many times the model's own `max_budget`.
       */
      ceilingFactor: z.number().min(1).max(100).default(2),
    })
    .default({ notifyAtPercent: 80, checkMinutes: 15, checksPerSecond: 10, ceilingFactor: 2 }),
  /** Keys with no spend for this many days get one reminder and, `idleGraceDays` later still unused, are revoked; off when absent. */
  idleDays: z.int().min(1).max(365).optional(),
  /** Days between the idle reminder and the revocation. */
  idleGraceDays: z.int().min(1).max(90).default(7),
  renewal: z
    .strictObject({
      /** A renewal's proposed budget is the old key's highest period spend plus this much headroom. */
      headroomPercent: z.int().min(0).max(500).default(25),
      /** The proposal never goes below this (USD): a key barely used still gets a usable budget. */
      minimumBudget: z.number().positive().default(1),
    })
    .default({ headroomPercent: 25, minimumBudget: 1 }),
});
export type LifecycleConfig = z.infer<typeof lifecycleSchema>;
export const LIFECYCLE_DEFAULTS: LifecycleConfig = lifecycleSchema.parse({});
