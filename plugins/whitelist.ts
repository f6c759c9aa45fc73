import { z } from 'zod';
import { matchesModel, patternListSchema } from '@/lib/approval/patterns';
import { commonOptionsSchema, definePlugin } from '@/lib/approval/types';

/**
 * Approves a model that matches one of its patterns; lets the chain go on otherwise. With
 * `renewalsOnly: true` the entry approves only renewals (of a key that was issued, see
 * lib/loop/plugin-view.ts), so a team can review first keys by hand and wave renewals through.
 * A top-up (more budget on a key) goes on down the chain unless `topUps: true`: a model anyone
 * may use is not an amount anyone may spend.
 */
export default definePlugin({
  name: 'whitelist',
  configSchema: commonOptionsSchema.extend({
    models: patternListSchema,
    reason: z.string().max(500).optional(),
    renewalsOnly: z.boolean({ message: 'renewalsOnly: expected true or false' }).default(false),
    /** Top-ups are money, not access: approved by a model match only when said so. */
    topUps: z.boolean({ message: 'topUps: expected true or false' }).default(false),
  }).strict(),
  create(config) {
    return {
      async decide(request) {
        if (request.topUp && !config.topUps) return { outcome: 'continue', reason: 'a top-up; this whitelist entry approves keys only (topUps: true to approve top-ups too)' };
        if (config.renewalsOnly && !request.renews) {
          return { outcome: 'continue', reason: 'not a renewal; this whitelist entry approves renewals only' };
        }
        const hit = matchesModel(request.model, config.models);
        if (hit && request.renews) {
          return { outcome: 'approve', reason: config.reason ?? `renewal of ${request.renews}: model ${request.model} matches "${hit}"` };
        }
        return hit

          ? { outcome: 'approve', reason: config.reason ?? `model ${request.model} matches "${hit}"` }
          : { outcome: 'continue', reason: `model ${request.model} matches no whitelist pattern` };
      },
    };
  },
});
