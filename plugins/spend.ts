import { z } from 'zod';
import { commonOptionsSchema, definePlugin } from '@/lib/approval/types';
import { usd } from '@/lib/domain/top-up';

/**
 * Decides on money, from the figures the gateway reports (lib/budget/spend-figures.ts):
 * `topUpsUpTo` approves a top-up of at most that many USD; `expectedMonthlyUnder` approves a key
 * whose model typically costs less than that a month here (the median of current keys). Anything
 * else, and any figure the gateway could not give, lets the chain go on: nothing is guessed.
 */
export default definePlugin({
  name: 'spend',
  configSchema: commonOptionsSchema
    .extend({
      topUpsUpTo: z.number().positive().optional(),
      expectedMonthlyUnder: z.number().positive().optional(),
    })
    .strict()
    .refine((c) => c.topUpsUpTo !== undefined || c.expectedMonthlyUnder !== undefined, { message: 'name topUpsUpTo, expectedMonthlyUnder or both; without either the plugin decides nothing' }),
  create(config) {
    return {
      wantsSpend: config.expectedMonthlyUnder !== undefined,
      async decide(request) {
        if (request.topUp) {
          const limit = config.topUpsUpTo;
          if (limit !== undefined && request.topUp.amount <= limit) return { outcome: 'approve', reason: `a top-up of ${usd(request.topUp.amount)}, at most ${usd(limit)}` };
          return { outcome: 'continue', reason: limit === undefined ? 'a top-up; this entry approves keys by expected cost only' : `a top-up of ${usd(request.topUp.amount)}, more than ${usd(limit)}` };
        }
        const limit = config.expectedMonthlyUnder;
        if (limit === undefined) return { outcome: 'continue', reason: 'a key; this entry approves top-ups only' };
        const typical = request.spend?.typicalMonthly;
        if (typical === null || typical === undefined) return { outcome: 'continue', reason: `what a ${request.model} key costs a month here is unknown` };
        return typical < limit
          ? { outcome: 'approve', reason: `a ${request.model} key typically costs ${usd(typical)} a month here, under ${usd(limit)}` }
          : { outcome: 'continue', reason: `a ${request.model} key typically costs ${usd(typical)} a month here, not under ${usd(limit)}` };
      },
    };
  },
});
